/**
 * The last line of `lmforge train`. It names both losses a user meets: the last logged loss (what the progress bar
 * and trainer_log.jsonl end on, the one to compare with a "falls to about ..." claim) and HF's train_loss, the mean
 * over every step of the run, which the early high losses pull up.
 */
import type { TrainResult } from '../train/train-options.js';

export function trainSummary(result: TrainResult): string {
  const what = result.trained
    ? `${result.globalStep} steps${lossesOf(result)}`
    : result.predictMetrics
      ? 'predictions written (no training: do_train is false)'
      : `nothing trained (already at step ${result.globalStep}/${result.maxSteps})`;
  return `done: ${what}; results in ${result.outputDir}`;
}

function lossesOf(result: TrainResult): string {
  const parts: string[] = [];
  const last = lastLoggedLoss(result);
  if (last) parts.push(`last logged loss ${last.loss.toFixed(4)} (step ${last.step})`);
  if (Number.isFinite(result.trainLoss))
    parts.push(`train_loss ${result.trainLoss.toFixed(4)} (the mean over all the run's steps)`);
  return parts.length > 0 ? `, ${parts.join(', ')}` : '';
}

/** The newest log_history entry with a training loss (eval entries carry eval_loss instead). */
function lastLoggedLoss(result: TrainResult): { loss: number; step: number } | null {
  for (let i = result.logHistory.length - 1; i >= 0; i--) {
    const entry = result.logHistory[i];
    const loss = entry?.loss;
    if (entry && typeof loss === 'number' && Number.isFinite(loss)) return { loss, step: entry.step };
  }
  return null;
}
