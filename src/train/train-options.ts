/** What a caller of `train()` passes and gets back (the CLI, the board, tests, users' scripts). */

import type { ProgressStream } from './progress.js';
import type { TrainerLogLine } from './trainer-log.js';
import type { LogEntry } from './trainer-state.js';

export interface TrainEvents {
  /** Every log entry (training loss, evaluation), as trainer_log.jsonl gets it. */
  onLog?: (entry: LogEntry, line: TrainerLogLine) => void;
  /** After every training step (one optimizer update; a PPO step's rollout and its updates). */
  onStep?: (info: {
    step: number;
    maxSteps: number;
    loss: number;
    lr: number;
    epoch: number;
    gradNorm: number;
  }) => void;
  onSave?: (dir: string) => void;
}

export interface TrainOptions {
  /** Abort (Ctrl-C in the CLI): the run saves a checkpoint at the current step and returns. */
  signal?: AbortSignal;
  /** Where the progress bar / lines go (default: stderr); false for none. */
  progress?: ProgressStream | false;
  /** Informational messages (default: console.error with an [lmforge] prefix). */
  log?: (message: string) => void;
  events?: TrainEvents;
}

export interface TrainResult {
  outputDir: string;
  globalStep: number;
  maxSteps: number;
  /** Average training loss over the run (HF's train_loss). */
  trainLoss: number;
  evalLoss?: number;
  /** Whether this call ran training steps (false: do_predict alone, or a run already complete). */
  trained: boolean;
  /** do_predict's metrics (predict_bleu-4, predict_rouge-1, ...), when prediction ran to the end. */
  predictMetrics?: Record<string, number>;
  /** True when the run stopped early on the abort signal (a checkpoint was saved). */
  interrupted: boolean;
  logHistory: LogEntry[];
}
