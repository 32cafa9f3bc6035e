/**
 * `npm run bench -- train [--threads N] [--steps 3] [--json]`: a LoRA SFT run through lmforge's trainer (`train()`,
 * the same code path as `lmforge train`) on a random-weight SmolLM2-135M-shaped model: sequences of 512 tokens,
 * batch 4 as 4 accumulated micro-batches of 1, LoRA r 8 on every linear layer, AdamW, clipping at 1.0 — with
 * gradient checkpointing on (LLaMA-Factory's default) and off. Beside it, the same computation in plain PyTorch
 * (bench/peers/torch_llama.py sft-accum[-ckpt], Debian's python3-torch) at its best thread setting, measured in
 * the same invocation. Each run is a fresh process so its peak RSS is its own; tokens/s excludes the first update.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getThreads, parseModelConfig, setThreads } from '../src/index.js';
import { createModel } from '../src/models/causal-lm.js';
import { copyBenchTokenizer, timeLoraSft, writeBenchDataset } from './util/lora-sft.js';
import { SMOLLM2_135M } from './util/smollm2.js';

const here = dirname(fileURLToPath(import.meta.url));

interface RunResult {
  tokens_per_s: number;
  peak_rss_mb: number;
  threads: number;
}

/** The child: build the model folder and data, run train(), time the updates after the first. */
async function child(checkpointing: boolean, threads: number, steps: number): Promise<RunResult> {
  setThreads(threads);
  const root = mkdtempSync(join(tmpdir(), 'lmforge-bench-train-'));
  try {
    const modelDir = join(root, 'model');
    const model = createModel(parseModelConfig(SMOLLM2_135M), { seed: 1 });
    model.save(modelDir);
    model.dispose();
    copyBenchTokenizer(modelDir);
    writeBenchDataset(root);
    const timed = await timeLoraSft({
      modelDir,
      datasetDir: root,
      outputDir: join(root, 'out'),
      loraRank: 8,
      accumulation: 4,
      maxSteps: steps,
      extra: { disable_gradient_checkpointing: !checkpointing },
    });
    return { ...timed, threads };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function ours(checkpointing: boolean, threads: number, steps: number): RunResult {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--child',
      String(checkpointing),
      String(threads),
      String(steps),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (r.status !== 0) throw new Error(`lmforge run failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as RunResult;
}

function torch(checkpointing: boolean, threads: number): RunResult | null {
  if (!existsSync('/usr/bin/python3')) return null;
  const task = checkpointing ? 'sft-accum-ckpt' : 'sft-accum';
  const r = spawnSync('/usr/bin/python3', [join(here, 'peers', 'torch_llama.py'), task, String(threads)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as RunResult;
}

export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const ti = args.indexOf('--threads');
  const threads = ti >= 0 ? Number(args[ti + 1]) : getThreads();
  const si = args.indexOf('--steps');
  const steps = si >= 0 ? Number(args[si + 1]) : 3;
  const rows = [];
  for (const checkpointing of [true, false]) {
    const o = ours(checkpointing, threads, steps);
    const peers = [torch(checkpointing, threads), threads > 1 ? torch(checkpointing, 1) : null].filter(
      (p): p is RunResult => p !== null,
    );
    const p = peers.sort((a, b) => b.tokens_per_s - a.tokens_per_s)[0] ?? null;
    rows.push({
      gradient_checkpointing: checkpointing,
      ours_tokens_per_s: o.tokens_per_s,
      torch_tokens_per_s: p?.tokens_per_s ?? null,
      torch_threads: p?.threads ?? null,
      ratio: p ? o.tokens_per_s / p.tokens_per_s : null,
      ours_peak_rss_mb: o.peak_rss_mb,
      torch_peak_rss_mb: p?.peak_rss_mb ?? null,
      rss_ratio: p ? o.peak_rss_mb / p.peak_rss_mb : null,
    });
  }
  if (json) {
    console.log(JSON.stringify({ threads, rows }, null, 2));
    return;
  }
  console.log(
    `LoRA SFT, SmolLM2-135M-shaped, 512 tokens x batch 4 (accumulated), r 8 all linear, ${threads} threads\n`,
  );
  console.log('checkpointing   lmforge tok/s   torch tok/s (thr)   ratio   lmforge RSS MB   torch RSS MB   RSS ratio');
  const f = (x: number | null, d = 1) => (x === null ? '-' : x.toFixed(d));
  for (const r of rows)
    console.log(
      `${String(r.gradient_checkpointing).padEnd(13)}   ${f(r.ours_tokens_per_s).padStart(13)}   ${f(r.torch_tokens_per_s).padStart(11)} (${r.torch_threads ?? '-'})   ${f(r.ratio, 2).padStart(5)}   ${f(r.ours_peak_rss_mb, 0).padStart(14)}   ${f(r.torch_peak_rss_mb, 0).padStart(12)}   ${f(r.rss_ratio, 2).padStart(9)}`,
    );
}

if (process.argv[2] === '--child') {
  const result = await child(process.argv[3] === 'true', Number(process.argv[4]), Number(process.argv[5]));
  console.log(JSON.stringify(result));
}
