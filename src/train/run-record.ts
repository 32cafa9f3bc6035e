/**
 * lmforge_run.json in each checkpoint: which run the checkpoint belongs to (a fingerprint of what determines the
 * training trajectory) and how far that run got (loss sum, steps, runtime), so that
 * - auto-resume continues only this run's work: a checkpoint left by a different run (other data, model, arguments)
 *   stops with what differs instead of silently continuing someone else's weights;
 * - train_results.json after a resume covers the whole run, not only the part since the last restart.
 * Kept out of trainer_state.json, which HF's TrainerState.load_from_json reads with no unknown keys allowed.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TrainArgs } from '../hparams/train-args.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { TrainError } from './run-setup.js';

export const RUN_RECORD_NAME = 'lmforge_run.json';
const VERSION = 1;

export interface RunFingerprint {
  /** The base model's config.json and a sample of its weight files (path-independent). */
  model: string;
  /** The tokenized training set, record by record: covers the data files, dataset_info mapping, template, cutoff. */
  data: string;
  /** Every argument that changes the trajectory, by name (resolved values, defaults included). */
  args: Record<string, unknown>;
}

/** What the run had done by the checkpoint: train_results.json adds the current part to these. */
export interface RunTotals {
  /** Sum of the per-update training losses over steps 1..steps. */
  loss_sum: number;
  steps: number;
  /** Seconds spent training (load and preprocessing excluded), over every part of the run. */
  runtime: number;
}

export interface RunRecord {
  version: number;
  fingerprint: RunFingerprint;
  totals: RunTotals;
}

/**
 * Arguments that do not change the weights a run ends with: where and how often things are written or shown,
 * evaluation and prediction, hub credentials and performance switches. Everything else counts, including
 * arguments added later (so a new argument errs on the side of refusing a resume, never of mixing runs).
 */
const NOT_TRAJECTORY: ReadonlySet<string> = new Set([
  // model
  'model_name_or_path', // its content is the model hash; a moved folder is the same model
  'cache_dir',
  'low_cpu_mem_usage',
  'flash_attn',
  'disable_gradient_checkpointing',
  'use_reentrant_gc',
  'infer_backend',
  'offload_folder',
  'use_kv_cache',
  'infer_dtype',
  'hf_hub_token',
  'ms_hub_token',
  'om_hub_token',
  'print_param_status',
  'trust_remote_code',
  'quantization_device_map',
  // data
  'dataset_dir', // its content is the data hash
  'media_dir',
  'eval_dataset',
  'overwrite_cache',
  'preprocessing_batch_size',
  'preprocessing_num_workers',
  'eval_num_beams',
  'eval_on_each_dataset',
  'tokenized_path',
  // finetuning
  'plot_loss',
  'compute_accuracy',
  'metrics',
  'custom_metric',
  'metric_labels',
  'sql_timeout',
  'include_effective_tokens_per_second',
  'badam_verbose',
  // training
  'output_dir',
  'overwrite_output_dir',
  'resume_from_checkpoint',
  'do_train',
  'do_eval',
  'do_predict',
  'eval_strategy',
  'eval_steps',
  'eval_delay',
  'eval_on_start',
  'eval_accumulation_steps',
  'per_device_eval_batch_size',
  'prediction_loss_only',
  'predict_with_generate',
  'generation_max_length',
  'generation_num_beams',
  'generation_config',
  'log_level',
  'logging_dir',
  'logging_strategy',
  'logging_first_step',
  'logging_steps',
  'logging_nan_inf_filter',
  'save_strategy',
  'save_steps',
  'save_total_limit',
  'save_safetensors',
  'save_only_model',
  'save_on_each_node',
  'load_best_model_at_end',
  'metric_for_best_model',
  'greater_is_better',
  'run_name',
  'report_to',
  'disable_tqdm',
  'threads',
  'use_cpu',
  'gradient_checkpointing',
  'include_num_input_tokens_seen',
  'torch_compile',
  'push_to_hub',
  'hub_model_id',
  'local_rank',
  'ddp_timeout',
  'ddp_backend',
  'ddp_find_unused_parameters',
  'dataloader_persistent_workers',
  'dataloader_prefetch_factor',
  'dataloader_num_workers',
  'dataloader_pin_memory',
  'remove_unused_columns',
  'label_names',
]);
const NOT_TRAJECTORY_PREFIXES = ['export_', 'vllm_', 'swanlab_', 'ray_', 'use_swanlab'];

function trajectoryArgs(args: TrainArgs): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const groups = [args.model, args.data, args.finetuning, args.training] as unknown as Record<string, unknown>[];
  for (const group of groups)
    for (const [key, value] of Object.entries(group)) {
      if (NOT_TRAJECTORY.has(key) || NOT_TRAJECTORY_PREFIXES.some((p) => key.startsWith(p))) continue;
      if (value === undefined || typeof value === 'function') continue;
      out[key] = value;
    }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * A hash of the model folder that does not read every byte of a many-gigabyte checkpoint: config.json whole, and per
 * weight file its size, its safetensors header and 64 KiB at 16 evenly spaced offsets (another fine-tune of the same
 * architecture differs in all of them).
 */
export function hashModelFolder(modelDir: string): string {
  const hash = createHash('sha256');
  // a GGUF file (model_name_or_path may be one) is sampled as one weight file; its header holds the config
  const single = statSync(modelDir).isFile();
  if (!single) hash.update(readFileSync(join(modelDir, 'config.json')));
  const weights = single
    ? ['']
    : readdirSync(modelDir)
        .filter((f) => f.endsWith('.safetensors') || f.endsWith('.bin'))
        .sort();
  const chunk = Buffer.alloc(64 * 1024);
  for (const name of weights) {
    const path = single ? modelDir : join(modelDir, name);
    const size = statSync(path).size;
    hash.update(`${name}:${size};`);
    const fd = openSync(path, 'r');
    try {
      for (let i = 0; i <= 16; i++) {
        const offset = Math.floor(((size - chunk.length) * i) / 16);
        const n = readSync(fd, chunk, 0, chunk.length, Math.max(0, offset));
        hash.update(chunk.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
  }
  return hash.digest('hex');
}

/** A hash of tokenized records: every number array as int32 bytes, every other field as JSON, keys sorted. */
export function hashRecords(records: readonly unknown[]): string {
  const hash = createHash('sha256');
  hash.update(`${records.length};`);
  for (const record of records) {
    const fields = Object.entries(record as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    for (const [key, value] of fields) {
      hash.update(`${key}=`);
      if (Array.isArray(value) && value.every((v) => typeof v === 'number')) {
        const ints = Int32Array.from(value as number[]);
        hash.update(new Uint8Array(ints.buffer));
      } else hash.update(JSON.stringify(value) ?? 'undefined');
      hash.update(';');
    }
    hash.update('\n');
  }
  return hash.digest('hex');
}

export function runFingerprint(args: TrainArgs, modelDir: string, trainSet: readonly unknown[]): RunFingerprint {
  return { model: hashModelFolder(modelDir), data: hashRecords(trainSet), args: trajectoryArgs(args) };
}

export function writeRunRecord(dir: string, record: Omit<RunRecord, 'version'>): void {
  writeJsonAtomic(join(dir, RUN_RECORD_NAME), { version: VERSION, ...record });
}

/** The checkpoint's record, or null for a checkpoint written before lmforge kept one. */
export function readRunRecord(dir: string): RunRecord | null {
  const path = join(dir, RUN_RECORD_NAME);
  if (!existsSync(path)) return null;
  return JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
}

/** What differs between the run that wrote a checkpoint and this one, one readable line each; empty when equal. */
export function fingerprintDifferences(saved: RunFingerprint, now: RunFingerprint): string[] {
  const out: string[] = [];
  if (saved.model !== now.model) out.push('the base model (its config.json or weights) differs');
  if (saved.data !== now.data)
    out.push('the training data differs after tokenization (data files, dataset, template, cutoff_len or sampling)');
  const keys = new Set([...Object.keys(saved.args), ...Object.keys(now.args)]);
  for (const key of [...keys].sort()) {
    const a = JSON.stringify(saved.args[key]);
    const b = JSON.stringify(now.args[key]);
    if (a !== b) out.push(`${key}: ${a ?? '(unset)'} in the checkpoint, ${b ?? '(unset)'} now`);
  }
  return out;
}

/**
 * Before resuming `checkpoint`: the run totals it recorded, or null when it predates run records. A checkpoint of a
 * different run stops auto-resume with what differs and the ways out; a checkpoint named in resume_from_checkpoint
 * is the user's explicit choice (HF lets arguments change on resume), so there the differences are only listed.
 */
export function checkResumable(
  checkpoint: string,
  now: RunFingerprint,
  explicit: boolean,
  log: (message: string) => void,
): RunTotals | null {
  const record = readRunRecord(checkpoint);
  if (!record) {
    log(`note: ${checkpoint} has no ${RUN_RECORD_NAME} (written by an older lmforge): resuming it unchecked`);
    return null;
  }
  const differences = fingerprintDifferences(record.fingerprint, now);
  if (differences.length === 0) return record.totals;
  const list = differences.map((d) => `  - ${d}`).join('\n');
  if (explicit) {
    log(
      `warning: resuming ${checkpoint} (resume_from_checkpoint) although it was written by a different run:\n${list}`,
    );
    return record.totals;
  }
  const outputDir = dirname(checkpoint);
  throw new TrainError(
    `output_dir ${outputDir} holds ${checkpoint} from a different run, which would be resumed:\n${list}\n` +
      `Set overwrite_output_dir: true to start over in ${outputDir} (its checkpoints are removed), or choose another ` +
      `output_dir to keep them. To continue that checkpoint with the new arguments, name it in resume_from_checkpoint.`,
  );
}

/** The run's totals so far: those the resumed checkpoint recorded plus this part's steps, loss and training time. */
export class RunTotalsCounter {
  private lossSum = 0;
  private steps = 0;
  private started = performance.now();

  constructor(private readonly before: RunTotals) {}

  /** Starts this part's clock (after loading and preprocessing, which train_runtime leaves out). */
  start(): void {
    this.started = performance.now();
  }

  addStep(loss: number): void {
    this.lossSum += loss;
    this.steps++;
  }

  totals(): RunTotals {
    return {
      loss_sum: this.before.loss_sum + this.lossSum,
      steps: this.before.steps + this.steps,
      runtime: this.before.runtime + (performance.now() - this.started) / 1000,
    };
  }
}
