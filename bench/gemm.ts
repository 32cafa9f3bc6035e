/**
 * GEMM benchmark: the matrix products of one SmolLM2-135M training step on 512 tokens (hidden 576, intermediate
 * 1536, vocab 49152, q/o 576 -> 576, k/v 576 -> 192), each layer's forward y = x @ W^T and both backward products
 * dX = g @ W and dW = g^T @ x. Prints our GFLOP/s beside OpenBLAS's cblas_sgemm measured in the same run with the
 * same thread count, the ratio, and the fraction of the machine's FMA peak (measured, bench/peers/fma_peak.c).
 * `--lora` times instead the products of a rank-8 LoRA on every decoder linear (one side is the rank: memory-bound).
 * `--bf16` times ours as a bf16 training step runs them (bf16 precision, the weight operand stored bf16) and adds
 * our f32 GEMM on the same shapes, so the bf16/f32 speed-up and OpenBLAS's f32 come from the same run; the peak
 * column stays the f32 FMA peak (AVX512_BF16's pair dot products can reach twice it).
 *
 *   npm run bench -- gemm [--json] [--threads 1,2] [--reps 5] [--rounds 3] [--only lm_head] [--lora] [--bf16]
 */
import { native, physicalCores, Tensor } from '../src/engine/index.js';
import { gemmInto } from '../src/engine/ops/matmul.js';
import { fmaPeak, hasOpenBlas, peerBinary, runPeer } from './util/peers.js';

const TOKENS = 512;
const LAYERS: { name: string; out: number; in: number }[] = [
  { name: 'q/o_proj', out: 576, in: 576 },
  { name: 'k/v_proj', out: 192, in: 576 },
  { name: 'gate/up_proj', out: 1536, in: 576 },
  { name: 'down_proj', out: 576, in: 1536 },
  { name: 'lm_head', out: 49152, in: 576 },
];

interface Shape {
  name: string;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
}

const LORA_RANK = 8;

/** A LoRA pair on W [out, in]: h = x @ A^T, y += s * h @ B^T; backward dh = g @ B, dB = g^T @ h, dA = dh^T @ x,
 * dx += s * dh @ A. */
function loraShapes(): Shape[] {
  const r = LORA_RANK;
  return LAYERS.filter((l) => l.name !== 'lm_head').flatMap((l) => [
    { name: `${l.name} lora x@A^T`, m: TOKENS, n: r, k: l.in, transA: false, transB: true },
    { name: `${l.name} lora h@B^T`, m: TOKENS, n: l.out, k: r, transA: false, transB: true },
    { name: `${l.name} lora dh g@B`, m: TOKENS, n: r, k: l.out, transA: false, transB: false },
    { name: `${l.name} lora dB g^T@h`, m: l.out, n: r, k: TOKENS, transA: true, transB: false },
    { name: `${l.name} lora dA dh^T@x`, m: r, n: l.in, k: TOKENS, transA: true, transB: false },
    { name: `${l.name} lora dx dh@A`, m: TOKENS, n: l.in, k: r, transA: false, transB: false },
  ]);
}

function shapes(): Shape[] {
  return LAYERS.flatMap((l) => [
    { name: `${l.name} fwd x@W^T`, m: TOKENS, n: l.out, k: l.in, transA: false, transB: true },
    { name: `${l.name} dX g@W`, m: TOKENS, n: l.in, k: l.out, transA: false, transB: false },
    { name: `${l.name} dW g^T@x`, m: l.out, n: l.in, k: TOKENS, transA: true, transB: false },
  ]);
}

interface Timing {
  best_s: number;
  median_s: number;
}

/** Our GEMM on s: three warm-up runs, then `reps` timed runs. bf16: bf16 precision, B (the weight in the forward
 * and dX, the activations in dW) stored bf16 as a bf16 run stores frozen weights. */
function timeOurs(s: Shape, reps: number, bf16 = false): Timing {
  const a = Tensor.empty([s.m * s.k]);
  const b = bf16
    ? Tensor.from(new Float32Array(s.k * s.n).fill(-0.25), [s.k * s.n], 'bf16')
    : Tensor.empty([s.k * s.n]);
  const c = Tensor.empty([s.m * s.n]);
  // Values do not change the speed of f32 FMAs unless they are subnormal; these stay normal.
  native.fill(a.handle, 0.5, a.numel);
  if (!bf16) native.fill(b.handle, -0.25, b.numel);
  const times: number[] = [];
  // Three warm-up runs: the first calls of a new shape grow each thread's packing buffers and fault their pages in.
  for (let r = -3; r < reps; r++) {
    const t0 = performance.now();
    gemmInto(a, b, c, { ...s, precision: bf16 ? 'bf16' : 'f32' });
    if (r >= 0) times.push((performance.now() - t0) / 1000);
  }
  a.dispose();
  b.dispose();
  c.dispose();
  times.sort((x, y) => x - y);
  return { best_s: times[0] as number, median_s: times[Math.floor(reps / 2)] as number };
}

function better(a: Timing, b: Timing): Timing {
  return { best_s: Math.min(a.best_s, b.best_s), median_s: Math.min(a.median_s, b.median_s) };
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

export function run(args: string[]): void {
  const json = args.includes('--json');
  const reps = Number(option(args, '--reps') ?? 5);
  const rounds = Number(option(args, '--rounds') ?? 3);
  const cores = physicalCores();
  const threadCounts = (option(args, '--threads') ?? [...new Set([1, cores])].join(','))
    .split(',')
    .map(Number)
    .filter((t) => t >= 1);
  const only = option(args, '--only');
  const bf16 = args.includes('--bf16');
  const list = (args.includes('--lora') ? loraShapes() : shapes()).filter((s) => !only || s.name.includes(only));
  if (!hasOpenBlas()) {
    console.log(
      'The GEMM benchmark compares against OpenBLAS, which is not installed. Install it with:\n' +
        '  sudo apt-get update && sudo apt-get install -y libopenblas-dev\nthen run `npm run bench -- gemm` again.',
    );
    return;
  }
  const openblas = peerBinary('openblas_sgemm', ['-lopenblas']);
  // The single-core peak is re-measured between runs and the best kept: other work on a shared machine only ever
  // lowers it, and the fractions below are against the machine, not against its momentary load.
  let peakOne = fmaPeak(1);
  const results = [];
  const prevThreads = native.getThreads();
  try {
    for (const threads of threadCounts) {
      native.setThreads(threads);
      const peak = fmaPeak(threads);
      if (threads === 1 && peak.gflops_per_core > peakOne.gflops_per_core) peakOne = peak;
      // Ours and OpenBLAS alternate shape by shape (`rounds` times), so a burst of load from other work on a shared
      // machine hits both; each keeps its best round.
      const rows = list.map((s) => {
        const flops = 2 * s.m * s.n * s.k;
        let ours: Timing = { best_s: Infinity, median_s: Infinity };
        let theirs: Timing = { best_s: Infinity, median_s: Infinity };
        let oursF32: Timing = { best_s: Infinity, median_s: Infinity };
        for (let round = 0; round < rounds; round++) {
          const shapeArg = `${s.m},${s.n},${s.k},${Number(s.transA)},${Number(s.transB)}`;
          const [peer] = runPeer<Timing[]>(openblas, [String(reps), shapeArg], {
            OPENBLAS_NUM_THREADS: String(threads),
          });
          theirs = better(theirs, peer as Timing);
          ours = better(ours, timeOurs(s, reps, bf16));
          if (bf16) oursF32 = better(oursF32, timeOurs(s, reps));
        }
        const oursGflops = flops / ours.best_s / 1e9;
        const peerGflops = flops / theirs.best_s / 1e9;
        return {
          ...s,
          flops,
          ours_best_s: ours.best_s,
          ours_median_s: ours.median_s,
          openblas_best_s: theirs.best_s,
          openblas_median_s: theirs.median_s,
          ours_gflops: oursGflops,
          openblas_gflops: peerGflops,
          ratio: oursGflops / peerGflops,
          // Medians say what a typical call costs on a loaded machine, where a best time can be a lucky one.
          ratio_median: theirs.median_s / ours.median_s,
          ...(bf16 ? { ours_f32_best_s: oursF32.best_s, bf16_speedup: oursF32.best_s / ours.best_s } : {}),
        };
      });
      const total = (key: 'ours_best_s' | 'openblas_best_s' | 'ours_median_s' | 'openblas_median_s') =>
        rows.reduce((t, r) => t + r[key], 0);
      const flops = rows.reduce((t, r) => t + r.flops, 0);
      const summary = {
        ours_s: total('ours_best_s'),
        openblas_s: total('openblas_best_s'),
        ours_gflops: flops / total('ours_best_s') / 1e9,
        openblas_gflops: flops / total('openblas_best_s') / 1e9,
        ratio: total('openblas_best_s') / total('ours_best_s'),
        ratio_median: total('openblas_median_s') / total('ours_median_s'),
        ...(bf16
          ? { bf16_speedup: rows.reduce((t, r) => t + (r.ours_f32_best_s ?? 0), 0) / total('ours_best_s') }
          : {}),
      };
      results.push({
        threads,
        isa: native.isa(),
        bf16_instructions: bf16 && native.bf16Instructions(),
        peak_measured: peak,
        rows,
        summary,
      });
    }
  } finally {
    native.setThreads(prevThreads);
  }
  const after = fmaPeak(1);
  if (after.gflops_per_core > peakOne.gflops_per_core) peakOne = after;
  const perCore = peakOne.gflops_per_core;
  const withFractions = results.map((r) => ({
    ...r,
    rows: r.rows.map((row) => ({ ...row, peak_fraction: row.ours_gflops / (perCore * r.threads) })),
  }));
  if (json) {
    console.log(JSON.stringify({ tokens: TOKENS, reps, peak_single_core: peakOne, results: withFractions }, null, 2));
    return;
  }
  for (const r of withFractions) printTable(r.threads, perCore, r.peak_measured.gflops, r.rows, r.summary, bf16);
}

function printTable(
  threads: number,
  peakPerCore: number,
  peakMeasured: number,
  rows: {
    name: string;
    m: number;
    n: number;
    k: number;
    ours_gflops: number;
    openblas_gflops: number;
    ratio: number;
    ratio_median: number;
    peak_fraction: number;
    bf16_speedup?: number;
  }[],
  summary: {
    ours_s: number;
    openblas_s: number;
    ours_gflops: number;
    openblas_gflops: number;
    ratio: number;
    ratio_median: number;
    bf16_speedup?: number;
  },
  bf16: boolean,
): void {
  console.log(
    `\nGEMM, ${threads} thread(s), isa ${native.isa()}; FMA peak ${peakPerCore.toFixed(1)} GFLOP/s per core ` +
      `(${(peakPerCore * threads).toFixed(1)} for ${threads}; measured with ${threads} running: ${peakMeasured.toFixed(1)})` +
      (bf16 ? `; ours in bf16 precision (AVX512_BF16: ${native.bf16Instructions() ? 'yes' : 'no, widening'})` : ''),
  );
  const head = ['shape', 'M', 'N', 'K', 'ours GF/s', 'OpenBLAS GF/s', 'ratio', 'ratio (medians)', 'peak'];
  if (bf16) head.push('bf16/f32 (ours)');
  const body = rows.map((r) => [
    r.name,
    String(r.m),
    String(r.n),
    String(r.k),
    r.ours_gflops.toFixed(1),
    r.openblas_gflops.toFixed(1),
    r.ratio.toFixed(2),
    r.ratio_median.toFixed(2),
    `${(100 * r.peak_fraction).toFixed(0)}%`,
    ...(bf16 ? [`${(r.bf16_speedup ?? 0).toFixed(2)}x`] : []),
  ]);
  body.push([
    'whole step (time-weighted)',
    '',
    '',
    '',
    summary.ours_gflops.toFixed(1),
    summary.openblas_gflops.toFixed(1),
    summary.ratio.toFixed(2),
    summary.ratio_median.toFixed(2),
    `${((100 * summary.ours_gflops) / (peakPerCore * threads)).toFixed(0)}%`,
    ...(bf16 ? [`${(summary.bf16_speedup ?? 0).toFixed(2)}x`] : []),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  console.log(line(head));
  for (const r of body) console.log(line(r));
  console.log(
    `total: ours ${(summary.ours_s * 1000).toFixed(1)} ms, OpenBLAS ${(summary.openblas_s * 1000).toFixed(1)} ms`,
  );
}
