/**
 * Where a run starts: HF/LLaMA-Factory auto-resume (the newest complete checkpoint in output_dir unless
 * overwrite_output_dir, or resume_from_checkpoint), checked before anything is loaded; and the restore of a
 * checkpoint's state once the optimizer and schedule exist. Which run a checkpoint belongs to is run-record.ts's.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import type { TrainArgs } from '../hparams/index.js';
import { ADAPTER_WEIGHTS_FILE } from '../io/peft.js';
import {
  lastCheckpoint,
  loadTrainingCheckpoint,
  removeCheckpoints,
  removeStaleTemporaries,
  type TrainingParts,
} from './checkpoints.js';
import { TrainError } from './run-setup.js';
import type { TrainerState } from './trainer-state.js';

const WEIGHT_FILES = [ADAPTER_WEIGHTS_FILE, 'model.safetensors', 'model.safetensors.index.json'];

/** The checkpoint this run continues from, or null to start over; refuses an output_dir it would spoil. */
export function resolveResume(args: TrainArgs, log: (m: string) => void): string | null {
  const { finetuning: fa, training: ta } = args;
  const outputDir = ta.output_dir;
  if (existsSync(outputDir) && !statSync(outputDir).isDirectory())
    throw new TrainError(`output_dir ${outputDir} is a file, not a folder: choose another output_dir`);
  for (const dir of removeStaleTemporaries(outputDir)) log(`removed ${dir}, left by an interrupted write`);
  // overwrite_output_dir starts the folder over: an old run's checkpoints left there would be resumed by the next
  // run that does not overwrite, silently continuing someone else's weights.
  if (ta.overwrite_output_dir && !ta.resume_from_checkpoint) {
    const removed = removeCheckpoints(outputDir);
    if (removed.length > 0) log(`overwrite_output_dir: removed ${removed.length} old checkpoint(s) from ${outputDir}`);
  }
  let resumeFrom = ta.resume_from_checkpoint ?? null;
  if (!resumeFrom && existsSync(outputDir) && !ta.overwrite_output_dir) {
    resumeFrom = lastCheckpoint(outputDir);
    if (!resumeFrom && readdirSync(outputDir).some((f) => WEIGHT_FILES.includes(f)))
      throw new TrainError(
        `output_dir ${outputDir} already holds a trained model; set overwrite_output_dir: true or choose another output_dir`,
      );
    if (resumeFrom) log(`resuming training from ${resumeFrom}`);
  }
  if (resumeFrom && fa.stage === 'ppo')
    throw new TrainError(
      `stage ppo cannot resume (as in LLaMA-Factory), and ${resumeFrom} would be resumed: set overwrite_output_dir: true or choose another output_dir (a checkpoint's adapter can seed a new run through adapter_name_or_path)`,
    );
  return resumeFrom;
}

/**
 * Loads the checkpoint's weights, optimizer, schedule, generator and state into `parts`; the state keeps this
 * run's length and intervals (HF takes them from the arguments, not from the checkpoint).
 */
export function restoreState(checkpoint: string, parts: TrainingParts, fresh: TrainerState): TrainerState {
  const restored = loadTrainingCheckpoint(checkpoint, parts);
  Object.assign(restored, {
    max_steps: fresh.max_steps,
    logging_steps: fresh.logging_steps,
    eval_steps: fresh.eval_steps,
    save_steps: fresh.save_steps,
  });
  return restored;
}
