/**
 * Peer programs for benchmarks: small C harnesses in bench/peers/ compiled on first use into bench/.peers/
 * (gitignored). They are benchmark-only; nothing in lmforge links to them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Compiles bench/peers/<name>.c (when its binary is missing or older) and returns the binary's path. */
export function peerBinary(name: string, libs: string[] = []): string {
  const src = join(benchDir, 'peers', `${name}.c`);
  const outDir = join(benchDir, '.peers');
  const bin = join(outDir, name);
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  mkdirSync(outDir, { recursive: true });
  const r = spawnSync('gcc', ['-O2', '-o', bin, src, ...libs, '-lpthread'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`compiling ${src} failed:\n${r.stderr || r.error}`);
  return bin;
}

/** Runs a peer binary and parses the one JSON line it prints. */
export function runPeer<T>(bin: string, args: string[], env: Record<string, string> = {}): T {
  const out = execFileSync(bin, args, { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out) as T;
}

/** True when OpenBLAS's C header and library are installed (Debian: libopenblas-dev). */
export function hasOpenBlas(): boolean {
  const headers = ['/usr/include/cblas.h', '/usr/include/x86_64-linux-gnu/cblas.h', '/usr/include/openblas/cblas.h'];
  if (!headers.some((h) => existsSync(h))) return false;
  return spawnSync('gcc', ['-print-file-name=libopenblas.so'], { encoding: 'utf8' }).stdout.trim() !== 'libopenblas.so';
}

/** The machine's measured f32 FMA peak in GFLOP/s with `threads` threads (bench/peers/fma_peak.c). */
export function fmaPeak(threads: number): { isa: string; gflops: number; gflops_per_core: number } {
  return runPeer(peerBinary('fma_peak'), [String(threads)]);
}
