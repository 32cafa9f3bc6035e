/**
 * trainer_log.jsonl as LLaMA-Factory's LogCallback writes it: one JSON line per log event with progress, the last
 * log_history entry's metrics and "H:MM:SS" times. LlamaBoard-style tools tail this file while training runs.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { formatTimedelta, pyJsonDumps, pyRound } from './py-format.js';
import type { TrainerState } from './trainer-state.js';

export const TRAINER_LOG_NAME = 'trainer_log.jsonl';

const LOG_INT_KEYS: ReadonlySet<string> = new Set(['current_steps', 'total_steps', 'total_tokens']);
const LOG_INT_KEYS_NO_TOTAL: ReadonlySet<string> = new Set([...LOG_INT_KEYS, 'percentage']);

export interface TrainerLogLine {
  current_steps: number;
  total_steps: number;
  loss?: number;
  eval_loss?: number;
  predict_loss?: number;
  reward?: number;
  accuracy?: number;
  lr?: number;
  epoch?: number;
  percentage: number;
  elapsed_time: string;
  remaining_time: string;
  throughput?: number;
  total_tokens?: number;
}

/** Seconds since some origin; tests pass a fake clock. */
export type Clock = () => number;
export const wallClock: Clock = () => Date.now() / 1000;

export class TrainerLogWriter {
  readonly path: string;
  private startTime = 0;
  private curSteps = 0;
  private maxSteps = 0;
  private readonly clock: Clock;

  /** `overwrite` (overwrite_output_dir) deletes a previous run's log, as LogCallback.on_init_end does. */
  constructor(
    outputDir: string,
    { overwrite = false, clock = wallClock }: { overwrite?: boolean; clock?: Clock } = {},
  ) {
    this.path = join(outputDir, TRAINER_LOG_NAME);
    this.clock = clock;
    mkdirSync(outputDir, { recursive: true });
    if (overwrite && existsSync(this.path)) rmSync(this.path);
  }

  /**
   * on_train_begin (with state.max_steps), or the first prediction step (with the number of eval batches);
   * `elapsedBefore`: seconds the run had trained before a resume, so elapsed and remaining times span the whole run.
   */
  reset(maxSteps: number, elapsedBefore = 0): void {
    this.startTime = this.clock() - elapsedBefore;
    this.curSteps = 0;
    this.maxSteps = maxSteps;
  }

  private timing(curSteps: number): { elapsed: string; remaining: string } {
    const elapsed = this.clock() - this.startTime;
    const perStep = curSteps !== 0 ? elapsed / curSteps : 0;
    this.curSteps = curSteps;
    return {
      elapsed: formatTimedelta(elapsed),
      remaining: formatTimedelta((this.maxSteps - curSteps) * perStep),
    };
  }

  private percentage(): number {
    return this.maxSteps !== 0 ? pyRound((this.curSteps / this.maxSteps) * 100, 2) : 100;
  }

  /**
   * On resume from checkpoint-`step`: removes the lines of later steps, which the interrupted part logged and this
   * one logs again (the file is rewritten atomically; a kill leaves the old or the new one whole).
   */
  dropAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const lines = readFileSync(this.path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    const keep = lines.filter((l) => {
      try {
        return ((JSON.parse(l) as { current_steps?: number }).current_steps ?? 0) <= step;
      } catch {
        return false; // a line cut by the kill
      }
    });
    if (keep.length !== lines.length) writeFileAtomic(this.path, keep.map((l) => `${l}\n`).join(''));
  }

  /** on_log: after each TrainerState.log, with the state whose last log_history entry is the new one. */
  onLog(state: TrainerState): TrainerLogLine {
    const t = this.timing(state.global_step);
    const last = state.log_history[state.log_history.length - 1] ?? { step: state.global_step };
    const metric = (key: string): number | undefined => {
      const v = last[key];
      return typeof v === 'number' ? v : undefined;
    };
    const line: TrainerLogLine = {
      current_steps: this.curSteps,
      total_steps: this.maxSteps,
      loss: metric('loss'),
      eval_loss: metric('eval_loss'),
      predict_loss: metric('predict_loss'),
      reward: metric('reward'),
      accuracy: metric('rewards/accuracies'),
      lr: metric('learning_rate'),
      epoch: metric('epoch'),
      percentage: this.percentage(),
      elapsed_time: t.elapsed,
      remaining_time: t.remaining,
    };
    if (state.num_input_tokens_seen) {
      line.throughput = pyRound(state.num_input_tokens_seen / (this.clock() - this.startTime), 2);
      line.total_tokens = state.num_input_tokens_seen;
    }
    this.append(line);
    return line;
  }

  /** on_prediction_step when not training: progress only, every 5th batch. */
  onPredictionStep(): TrainerLogLine | null {
    const t = this.timing(this.curSteps + 1);
    if (this.curSteps % 5 !== 0) return null;
    const line: TrainerLogLine = {
      current_steps: this.curSteps,
      total_steps: this.maxSteps,
      percentage: this.percentage(),
      elapsed_time: t.elapsed,
      remaining_time: t.remaining,
    };
    this.append(line);
    return line;
  }

  /**
   * One write per line with O_APPEND: a reader tailing the file sees whole lines, and a crash loses at most the
   * line being written. (Rewriting the whole file per event through tmp + rename would cost O(lines) each time.)
   */
  private append(line: TrainerLogLine): void {
    const compact = Object.fromEntries(Object.entries(line).filter(([, v]) => v !== undefined && v !== null));
    // LogCallback writes the int 100 (not round()'s float) when there are no steps to count.
    const intKeys = this.maxSteps === 0 ? LOG_INT_KEYS_NO_TOTAL : LOG_INT_KEYS;
    appendFileSync(this.path, `${pyJsonDumps(compact, { intKeys })}\n`);
  }
}
