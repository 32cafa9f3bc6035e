/** Shared by the data-parallel tests: whether MPI is here, the tiny run's config, mpirun's command line. */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scope } from '../../src/engine/index.js';
import { LoraAdapter } from '../../src/io/peft.js';
import { tinyMistralDir } from '../util/tiny-model.js';

/** Why the MPI tests cannot run here, or null: only a missing Open MPI skips them (CI installs it). */
export function mpiMissing(): string | null {
  const r = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0)
    return 'mpirun is not installed (apt-get install -y openmpi-bin libopenmpi-dev): the data-parallel tests need Open MPI';
  return null;
}

export const MPIRUN = ['--allow-run-as-root', '--oversubscribe', '--bind-to', 'none', '--mca', 'btl', 'self,tcp'];

let model: string | null = null;
export function tinyModel(): string {
  model ??= tinyMistralDir(5, { std: 0.02, maxPositionEmbeddings: 256 });
  return model;
}

/** A tiny LoRA SFT run: 3 optimizer steps of a global batch of 4 x 2 accumulation. */
export function ddpConfig(outputDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    stage: 'sft',
    do_train: true,
    model_name_or_path: tinyModel(),
    dataset: 'alpaca_en_demo',
    dataset_dir: 'examples/data',
    template: 'alpaca',
    cutoff_len: 48,
    max_samples: 24,
    finetuning_type: 'lora',
    lora_target: 'all',
    lora_rank: 4,
    per_device_train_batch_size: 4,
    gradient_accumulation_steps: 2,
    learning_rate: 5e-3,
    max_grad_norm: 1.0,
    max_steps: 3,
    logging_steps: 1,
    save_steps: 100,
    seed: 7,
    threads: 1,
    report_to: 'none',
    output_dir: outputDir,
    ...extra,
  };
}

export function writeYaml(path: string, cfg: Record<string, unknown>): string {
  writeFileSync(
    path,
    `${Object.entries(cfg)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join('\n')}\n`,
  );
  return path;
}

/** `mpirun -np n lmforge train cfg.yaml`, one engine thread per rank. */
export function mpirunTrain(n: number, yaml: string, env: Record<string, string> = {}, extraMpi: string[] = []) {
  return spawnSync(
    'mpirun',
    ['-np', String(n), ...MPIRUN, ...extraMpi, process.execPath, join('bin', 'lmforge.js'), 'train', yaml],
    { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 240_000 },
  );
}

export function adapterValues(dir: string): Map<string, Float32Array> {
  const a = LoraAdapter.open(dir);
  try {
    return new Map([...a.keys.keys()].map((k) => [k, scope(() => a.load(k).toFloat32Array())]));
  } finally {
    a.close();
  }
}

export function maxDifference(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let worst = 0;
  if (a.size !== b.size) throw new Error(`${a.size} vs ${b.size} tensors`);
  for (const [k, x] of a) {
    const y = b.get(k);
    if (!y || y.length !== x.length) throw new Error(`tensor ${k} differs in shape or is missing`);
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs((x[i] as number) - (y[i] as number)));
  }
  return worst;
}
