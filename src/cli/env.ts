/**
 * `lmforge env`: what a bug report needs, as `llamafactory-cli env` prints it (one `- name: value` line each):
 * versions, platform, CPU, the instruction set the kernels chose and what the CPU has, threads, memory, and which
 * native addon file is loaded (path and hash, so two machines can tell whether they run the same build).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, cpus, freemem, platform, release, totalmem } from 'node:os';
import { version } from './version.js';

const GiB = 1024 ** 3;

function gib(bytes: number): string {
  return `${(bytes / GiB).toFixed(1)} GiB`;
}

/** The engine's rows; a missing or unloadable addon is a row saying so, not a crash (env is for broken setups). */
async function engineRows(): Promise<Array<[string, string]>> {
  let engine: typeof import('../engine/index.js');
  try {
    engine = await import('../engine/index.js');
  } catch (e) {
    return [['native addon', `not loaded: ${(e as Error).message}`]];
  }
  const f = engine.native.cpuFeatures();
  const available = ['portable', ...(f.avx2Fma ? ['avx2'] : []), ...(f.avx512 ? ['avx512'] : [])];
  const cap = process.env.LMFORGE_ISA ? ` (capped by LMFORGE_ISA=${process.env.LMFORGE_ISA})` : '';
  const threadsFrom = process.env.LMFORGE_THREADS ? 'LMFORGE_THREADS' : 'physical cores';
  // The addon is whatever .node file the engine's require loaded: found in the require cache, wherever it came from.
  const req = createRequire(import.meta.url);
  const addon = Object.keys(req.cache).find((p) => p.endsWith('lmforge.node'));
  const rows: Array<[string, string]> = [
    ['instruction set', `${engine.isa()}${cap}`],
    ['instruction sets available', available.join(', ')],
    ['cpu features', `avx2+fma ${f.avx2Fma}, avx512 ${f.avx512}, f16c ${f.f16c}, avx512-bf16 ${f.avx512Bf16}`],
    ['threads', `${engine.getThreads()} (from ${threadsFrom}; set with threads: or LMFORGE_THREADS)`],
    ['physical cores', String(engine.physicalCores())],
    ['native memory live', gib(engine.liveBytes())],
  ];
  if (addon) {
    const sha = createHash('sha256').update(readFileSync(addon)).digest('hex');
    rows.push(['native addon', addon], ['native addon sha256', sha]);
  }
  return rows;
}

export async function envCommand(args: string[]): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    console.log('Usage: lmforge env\n\nPrints versions, CPU, instruction set, threads, memory and the native addon.');
    return 0;
  }
  const cpu = cpus();
  const rows: Array<[string, string]> = [
    ['lmforge version', version()],
    ['Node.js version', process.version],
    ['V8 version', process.versions.v8],
    ['platform', `${platform()} ${release()} ${arch()}`],
    ['CPU', `${cpu[0]?.model.trim() ?? 'unknown'} (${cpu.length} logical CPUs)`],
    ['memory', `${gib(totalmem())} total, ${gib(freemem())} free`],
    ...(await engineRows()),
  ];
  console.log(rows.map(([k, v]) => `- ${k}: ${v}`).join('\n'));
  return 0;
}
