/**
 * `npm run bench -- memory [--shape smollm2-135m|llama-3.2-1b|llama-3-8b] [--variants f32,bf16,int8,nf4] [--steps 3]
 * [--threads N] [--decode-only] [--json]`:
 * what a quantized base saves and costs (issue #12). Random weights with the real shape's config, stored bf16 as HF
 * checkpoints are; for f32, bf16, int8 and nf4 (+ double quantization) frozen bases (the quantized ones in bf16
 * compute with bf16 embeddings and head, as a QLoRA run with `bf16: true` holds them): peak RSS of loading, peak RSS
 * and tokens/s of LoRA SFT steps (512 tokens, r 16 on every linear layer, gradient checkpointing, through
 * `train()`), greedy decoding tokens/s at batch 1 (`--decode-only` skips the steps), and the quantized projections'
 * bytes per weight against theory (nf4 + double quant: 0.5 + 1/64 + 4/(64*256) ≈ 0.516, as bitsandbytes states;
 * without double quant 0.5 + 4/64). Beside them, PyTorch's f32 step (bench/peers/torch_llama.py sft-accum-ckpt,
 * Debian's python3-torch, SmolLM2 shape only, r 8) when installed. Each measurement is a fresh process.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getThreads, setThreads } from '../src/index.js';
import { loadModel, type QuantizationOptions } from '../src/models/causal-lm.js';
import { writeLayeredRandomCheckpoint } from './util/layered-checkpoint.js';
import { copyBenchTokenizer, timeLoraSft, writeBenchDataset } from './util/lora-sft.js';
import { benchShape } from './util/smollm2.js';

const here = dirname(fileURLToPath(import.meta.url));

type Variant = 'f32' | 'bf16' | 'int8' | 'nf4';
const VARIANTS: Variant[] = ['f32', 'bf16', 'int8', 'nf4'];
const TRAIN_ARGS: Record<Variant, Record<string, unknown>> = {
  f32: {},
  bf16: { bf16: true },
  int8: { quantization_bit: 8, bf16: true },
  nf4: { quantization_bit: 4, bf16: true },
};
const LOAD_OPTIONS: Record<Variant, { dtype?: 'bf16'; quantization?: QuantizationOptions }> = {
  f32: {},
  bf16: { dtype: 'bf16' },
  int8: { dtype: 'bf16', quantization: { bits: 8 } },
  nf4: { dtype: 'bf16', quantization: { bits: 4 } },
};

interface LoadResult {
  peak_rss_mb: number;
  quantized_bytes_per_weight: number | null;
}
interface StepResult {
  tokens_per_s: number;
  peak_rss_mb: number;
}
interface DecodeResult {
  decode_tokens_per_s: number;
}

/** The parent's one-time setup: the model folder (bf16 safetensors, a shard per layer, + a real tokenizer) and a dataset of long records. */
function prepare(root: string, shape: string): void {
  // Layer by layer: the 8B shape's 16 GB of bf16 weights never sit in memory at once.
  writeLayeredRandomCheckpoint(join(root, 'model'), benchShape(shape).config, 1);
  copyBenchTokenizer(join(root, 'model'));
  writeBenchDataset(root);
}

async function childLoad(root: string, variant: Variant): Promise<LoadResult> {
  const model = await loadModel(join(root, 'model'), LOAD_OPTIONS[variant]);
  const q = model.quantizedWeights();
  const values = q.reduce((a, [, m]) => a + m.rows * m.cols, 0);
  const bytes = q.reduce((a, [, m]) => a + m.bytes, 0);
  const peak = process.resourceUsage().maxRSS / 1024;
  model.dispose();
  return { peak_rss_mb: peak, quantized_bytes_per_weight: values ? bytes / values : null };
}

/** Greedy decoding at batch 1: a 16-token prompt, then 8 warm-up tokens and 32 timed ones (per-token time). */
async function childDecode(root: string, variant: Variant): Promise<DecodeResult> {
  const model = await loadModel(join(root, 'model'), LOAD_OPTIONS[variant]);
  const prompt = Array.from({ length: 16 }, (_, i) => 100 + i * 37);
  const stamps: number[] = [];
  model.generateDetailed([prompt], { maxNewTokens: 40, stop: [], onToken: () => stamps.push(performance.now()) });
  model.dispose();
  const timed = stamps.slice(8);
  const seconds = ((timed.at(-1) as number) - (timed[0] as number)) / 1000;
  return { decode_tokens_per_s: (timed.length - 1) / seconds };
}

async function childStep(root: string, variant: Variant, steps: number): Promise<StepResult> {
  return timeLoraSft({
    modelDir: join(root, 'model'),
    datasetDir: root,
    outputDir: join(root, `out-${variant}`),
    loraRank: 16,
    accumulation: 1,
    maxSteps: steps + 1,
    extra: { overwrite_output_dir: true, ...TRAIN_ARGS[variant] },
  });
}

function spawnChild<T>(args: string[]): T {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`lmforge child ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as T;
}

function torchStep(threads: number): StepResult | null {
  if (!existsSync('/usr/bin/python3')) return null;
  const r = spawnSync('/usr/bin/python3', [join(here, 'peers', 'torch_llama.py'), 'sft-accum-ckpt', String(threads)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as StepResult;
}

export async function run(args: string[]): Promise<void> {
  const opt = (name: string, fallback: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? (args[i + 1] as string) : fallback;
  };
  const shape = opt('--shape', 'smollm2-135m');
  benchShape(shape);
  const steps = Number(opt('--steps', '3'));
  const threads = Number(opt('--threads', String(getThreads())));
  const skipSteps = args.includes('--decode-only');
  const variants = opt('--variants', VARIANTS.join(',')).split(',') as Variant[];
  for (const v of variants) if (!VARIANTS.includes(v)) throw new Error(`--variants: ${v} is not one of ${VARIANTS}`);
  const root = mkdtempSync(join(tmpdir(), 'lmforge-bench-memory-'));
  try {
    prepare(root, shape);
    const rows = variants.map((variant) => {
      const load = spawnChild<LoadResult>(['load', root, variant, String(threads)]);
      const step = skipSteps
        ? { tokens_per_s: Number.NaN, peak_rss_mb: Number.NaN }
        : spawnChild<StepResult>(['step', root, variant, String(threads), String(steps)]);
      const decode = spawnChild<DecodeResult>(['decode', root, variant, String(threads)]);
      return {
        variant,
        load_peak_rss_mb: load.peak_rss_mb,
        bytes_per_weight: load.quantized_bytes_per_weight,
        ...step,
        ...decode,
      };
    });
    const bf16 = rows.find((r) => r.variant === 'bf16');
    const f32 = rows.find((r) => r.variant === 'f32');
    const peer = shape === 'smollm2-135m' && !skipSteps ? torchStep(threads) : null;
    if (args.includes('--json')) {
      console.log(JSON.stringify({ shape, threads, steps, rows, torch_f32: peer }, null, 2));
      return;
    }
    console.log(
      `LoRA SFT step, ${shape}-shaped random weights, 512 tokens, r 16 all linear, checkpointing, ${threads} threads\n`,
    );
    console.log(
      'base    load RSS MB   step RSS MB   tok/s    vs bf16   vs f32   decode tok/s   vs f32   bytes/weight (projections)',
    );
    const f = (x: number | null, d = 1) => (x === null ? '-' : x.toFixed(d));
    for (const r of rows)
      console.log(
        `${r.variant.padEnd(6)}  ${f(r.load_peak_rss_mb, 0).padStart(11)}   ${f(r.peak_rss_mb, 0).padStart(11)}   ${f(r.tokens_per_s).padStart(6)}   ${f(bf16 ? r.tokens_per_s / bf16.tokens_per_s : null, 2).padStart(7)}   ${f(f32 ? r.tokens_per_s / f32.tokens_per_s : null, 2).padStart(6)}   ${f(r.decode_tokens_per_s, 2).padStart(12)}   ${f(f32 ? r.decode_tokens_per_s / f32.decode_tokens_per_s : null, 2).padStart(6)}   ${r.bytes_per_weight === null ? (r.variant === 'f32' ? '4 (f32)' : '2 (bf16)') : f(r.bytes_per_weight, 3)}`,
      );
    if (peer)
      console.log(
        `torch   f32 step (r 8): ${f(peer.tokens_per_s)} tok/s, peak RSS ${f(peer.peak_rss_mb, 0)} MB; lmforge f32 / torch f32 = ${f(f32 ? f32.tokens_per_s / peer.tokens_per_s : null, 2)}`,
      );
    else console.log('torch   not measured (install python3-torch; SmolLM2 shape only)');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const [kind, root, variant, threads, steps] = process.argv.slice(3) as [string, string, Variant, string, string];
  setThreads(Number(threads));
  const result =
    kind === 'load'
      ? await childLoad(root, variant)
      : kind === 'decode'
        ? await childDecode(root, variant)
        : await childStep(root, variant, Number(steps));
  console.log(JSON.stringify(result));
}
