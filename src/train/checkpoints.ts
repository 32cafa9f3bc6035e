/**
 * `checkpoint-N/` folders: the trained weights (a PEFT adapter, or an HF model for full/freeze tuning), the optimizer
 * (state tensors in safetensors, the rest in JSON), the LR scheduler, the dropout generator and trainer_state.json.
 * Each is written into a temporary folder and renamed into place, so a kill at any moment leaves either the complete
 * previous checkpoints or the complete new one; a folder without trainer_state.json is never resumed from.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type GeneratorState, scope, Tensor } from '../engine/index.js';
import { syncFolder, writeJsonAtomic } from '../io/atomic.js';
import { CheckpointReader } from '../io/checkpoint.js';
import { LoraAdapter, PEFT_PREFIX } from '../io/peft.js';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.js';
import type { CausalLM } from '../models/causal-lm.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { OptimizerStateDict } from './optimizers.js';
import { type RunRecord, writeRunRecord } from './run-record.js';
import type { LrScheduler, SchedulerState } from './schedulers.js';
import { TRAINER_STATE_NAME, TrainerState } from './trainer-state.js';

export const CHECKPOINT_PREFIX = 'checkpoint-';
const OPTIMIZER_TENSORS = 'optimizer.safetensors';
const OPTIMIZER_JSON = 'optimizer.json';
const SCHEDULER_JSON = 'scheduler.json';
const RNG_JSON = 'rng_state.json';

/** What an optimizer exposes for checkpoints (AdamW and SGD). */
export interface CheckpointableOptimizer {
  stateDict(): OptimizerStateDict;
  loadStateDict(sd: OptimizerStateDict): void;
}

export interface TrainingParts {
  model: CausalLM;
  optimizer: CheckpointableOptimizer;
  scheduler: LrScheduler;
  rng: { state(): GeneratorState; setState(s: GeneratorState): void };
  tokenizer?: Tokenizer;
  /** Weights outside the model (a stage's value head), saved and restored beside it. */
  extra?: { saveExtra?(dir: string): void; loadExtra?(dir: string): void };
  /** The run this checkpoint belongs to and its totals so far (lmforge_run.json). */
  run?: () => Omit<RunRecord, 'version'>;
}

/** Writes checkpoint-<step> atomically; returns its path. */
export function saveTrainingCheckpoint(outputDir: string, state: TrainerState, parts: TrainingParts): string {
  const dir = join(outputDir, `${CHECKPOINT_PREFIX}${state.global_step}`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    saveWeights(parts.model, tmp);
    parts.extra?.saveExtra?.(tmp);
    parts.tokenizer?.save(tmp);
    const sd = parts.optimizer.stateDict();
    const buffers = new Map<string, Tensor>();
    scope(() => {
      for (const [index, s] of Object.entries(sd.state))
        for (const [name, values] of Object.entries(s.buffers))
          buffers.set(`state.${index}.${name}`, Tensor.from(values, [values.length]));
      writeSafetensors(join(tmp, OPTIMIZER_TENSORS), buffers);
    });
    const meta = {
      optimizer: sd.optimizer,
      paramGroups: sd.paramGroups,
      steps: Object.fromEntries(Object.entries(sd.state).map(([i, s]) => [i, s.step])),
    };
    writeJsonAtomic(join(tmp, OPTIMIZER_JSON), meta);
    writeJsonAtomic(join(tmp, SCHEDULER_JSON), parts.scheduler.stateDict());
    writeJsonAtomic(join(tmp, RNG_JSON), { dropout: parts.rng.state() });
    if (parts.run) writeRunRecord(tmp, parts.run());
    killForFaultTest();
    state.save(tmp); // last: its presence marks a complete checkpoint
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    syncFolder(outputDir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return dir;
}

/**
 * Fault-injection hook for the kill -9 test (tests/train/fault-injection.test.ts): LMFORGE_FAULT_KILL_IN_CHECKPOINT=N
 * kills this process with SIGKILL halfway through writing its Nth checkpoint, weights written but not yet renamed.
 */
let checkpointsWritten = 0;
function killForFaultTest(): void {
  const at = process.env.LMFORGE_FAULT_KILL_IN_CHECKPOINT;
  if (at && ++checkpointsWritten === Number(at)) process.kill(process.pid, 'SIGKILL');
}

function saveWeights(model: CausalLM, dir: string): void {
  if (model.adapterConfig) model.saveAdapter(dir);
  // The run's tokenizer is saved beside the weights (saveTrainingCheckpoint), not the base folder's files.
  else model.save(dir, { tokenizer: false });
}

/** Restores weights, optimizer, scheduler and generator from a checkpoint; returns its trainer state. */
export function loadTrainingCheckpoint(dir: string, parts: TrainingParts): TrainerState {
  const statePath = join(dir, TRAINER_STATE_NAME);
  if (!existsSync(statePath))
    throw userError(
      `${dir} is not a complete checkpoint (no ${TRAINER_STATE_NAME}); choose another resume_from_checkpoint`,
    );
  loadWeights(parts.model, dir);
  parts.extra?.loadExtra?.(dir);
  const meta = JSON.parse(readFileSync(join(dir, OPTIMIZER_JSON), 'utf8')) as {
    optimizer: string;
    paramGroups: OptimizerStateDict['paramGroups'];
    steps: Record<string, number>;
  };
  const file = SafetensorsFile.open(join(dir, OPTIMIZER_TENSORS));
  try {
    const state: OptimizerStateDict['state'] = {};
    for (const name of file.tensors.keys()) {
      const [, index, buffer] = name.split('.') as [string, string, string];
      const values = scope(() => file.load(name).toFloat32Array());
      const entry = (state[Number(index)] ??= { step: meta.steps[index] ?? 0, buffers: {} });
      entry.buffers[buffer] = values;
    }
    for (const [index, step] of Object.entries(meta.steps)) state[Number(index)] ??= { step, buffers: {} };
    parts.optimizer.loadStateDict({ optimizer: meta.optimizer, paramGroups: meta.paramGroups, state });
  } finally {
    file.close();
  }
  parts.scheduler.loadStateDict(JSON.parse(readFileSync(join(dir, SCHEDULER_JSON), 'utf8')) as SchedulerState);
  const rng = JSON.parse(readFileSync(join(dir, RNG_JSON), 'utf8')) as { dropout: GeneratorState };
  parts.rng.setState(rng.dropout);
  return TrainerState.load(statePath);
}

function loadWeights(model: CausalLM, dir: string): void {
  if (model.adapterConfig) {
    const adapter = LoraAdapter.open(dir);
    try {
      const live = new Set(model.namedParameters().map(([n]) => n));
      const entries: [string, Tensor][] = [];
      scope(() => {
        for (const saved of adapter.keys.keys()) {
          // LoRA factors keep PEFT's key; modules_to_save and biases are the model's own (HF) names.
          const name = live.has(saved) ? saved : saved.slice(PEFT_PREFIX.length);
          entries.push([name, adapter.load(saved)]);
        }
        model.loadParameters(entries, dir);
      });
    } finally {
      adapter.close();
    }
    return;
  }
  const reader = CheckpointReader.open(dir);
  try {
    const trainable = model.trainableParameters().map(([n]) => n);
    scope(() =>
      model.loadParameters(
        trainable.map((n): [string, Tensor] => [n, reader.load(n)]),
        dir,
      ),
    );
  } finally {
    reader.close();
  }
}

/** Complete checkpoint folders in outputDir, oldest first. */
export function listCheckpoints(outputDir: string): { step: number; dir: string }[] {
  if (!existsSync(outputDir)) return [];
  return readdirSync(outputDir)
    .map((name) => ({ name, m: /^checkpoint-(\d+)$/.exec(name) }))
    .filter(
      ({ name, m }) =>
        m && statSync(join(outputDir, name)).isDirectory() && existsSync(join(outputDir, name, TRAINER_STATE_NAME)),
    )
    .map(({ name, m }) => ({ step: Number(m?.[1]), dir: join(outputDir, name) }))
    .sort((a, b) => a.step - b.step);
}

/** The newest complete checkpoint (HF's get_last_checkpoint), or null. */
export function lastCheckpoint(outputDir: string): string | null {
  return listCheckpoints(outputDir).at(-1)?.dir ?? null;
}

/**
 * Removes `<name>.tmp-<pid>` entries (half-written checkpoints and files) whose writer is no longer running: a kill
 * in the middle of a write leaves them, and nothing would ever read them. A live writer's temporaries stay.
 */
export function removeStaleTemporaries(outputDir: string): string[] {
  if (!existsSync(outputDir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(outputDir)) {
    const m = /\.tmp-(\d+)$/.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    rmSync(join(outputDir, name), { recursive: true, force: true });
    removed.push(join(outputDir, name));
  }
  return removed;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes every checkpoint-N folder: overwrite_output_dir starts the folder over, so none can be resumed later. */
export function removeCheckpoints(outputDir: string): string[] {
  const dirs = listCheckpoints(outputDir).map((c) => c.dir);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  return dirs;
}

/** Deletes the oldest checkpoints beyond save_total_limit (never the best one). */
export function rotateCheckpoints(outputDir: string, limit: number | null, best: string | null = null): string[] {
  if (!limit || limit <= 0) return [];
  const all = listCheckpoints(outputDir);
  const removable = all.filter((c) => c.dir !== best);
  const excess = all.length - limit;
  const removed = removable.slice(0, Math.max(0, excess)).map((c) => c.dir);
  for (const dir of removed) rmSync(dir, { recursive: true, force: true });
  return removed;
}

function userError(message: string): Error {
  return Object.assign(new Error(message), { userFacing: true });
}
