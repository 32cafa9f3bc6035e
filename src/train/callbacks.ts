/**
 * What the training loop calls after every step, in order (HF Trainer's callback handler and
 * _maybe_log_save_evaluate): the caller's events, the progress bar, the training-loss log, evaluation, checkpoints.
 * Each callback decides from the strategies (steps / epoch / no) whether this step is one of its steps.
 */
import { join } from 'node:path';
import type { TrainArgs } from '../hparams/index.js';
import { rotateCheckpoints, saveTrainingCheckpoint, type TrainingParts } from './checkpoints.js';
import { Progress } from './progress.js';
import { perplexity } from './results.js';
import type { LrScheduler } from './schedulers.js';
import type { Metrics, Stage, StepOutcome } from './stage.js';
import type { Trackers } from './trackers/index.js';
import type { TrainOptions } from './train-options.js';
import type { TrainerLogWriter } from './trainer-log.js';
import type { LogEntry, TrainerState } from './trainer-state.js';

/** One finished step as the callbacks see it; `state` already counts it. */
export interface StepReport {
  outcome: StepOutcome;
  /** The learning rate the stage reports for this step (stage.reportsLr). */
  lr: number;
  /** The learning rate the next step will use (what a person watching the bar wants to see). */
  nextLr: number;
  endsEpoch: boolean;
  last: boolean;
}

export interface Callback {
  onStep(report: StepReport): void;
  onEnd?(): void;
}

/** Writes checkpoint-N/ (atomically, checkpoints.ts) and keeps save_total_limit of them. */
export class Checkpointer {
  /** The step of the newest checkpoint this run holds (-1: none yet). */
  lastSaved: number;

  constructor(
    private readonly outputDir: string,
    private readonly state: () => TrainerState,
    private readonly parts: TrainingParts,
    private readonly limit: number | null,
    private readonly onSave: ((dir: string) => void) | undefined,
    resumedAt: number | null,
  ) {
    this.lastSaved = resumedAt ?? -1;
  }

  save(): string {
    const state = this.state();
    const dir = saveTrainingCheckpoint(this.outputDir, state, this.parts);
    rotateCheckpoints(this.outputDir, this.limit, state.best_model_checkpoint);
    this.onSave?.(dir);
    this.lastSaved = state.global_step;
    return dir;
  }

  dirOf(step: number): string {
    return join(this.outputDir, `checkpoint-${step}`);
  }
}

export interface CallbackContext {
  args: TrainArgs;
  state: TrainerState;
  stage: Stage;
  scheduler: LrScheduler;
  logWriter: TrainerLogWriter;
  checkpointer: Checkpointer;
  options: TrainOptions;
  /** report_to's trackers: every log entry goes to them too. */
  trackers?: Trackers;
}

/** Whether a `steps`/`epoch` strategy with `interval` steps acts after this step. */
function due(strategy: string, interval: number, state: TrainerState, report: StepReport): boolean {
  return (strategy === 'steps' && state.global_step % interval === 0) || (strategy === 'epoch' && report.endsEpoch);
}

/** Whether the step's callbacks save a checkpoint (save_strategy, save_steps). */
export function saveDue(ta: TrainArgs['training'], state: TrainerState, report: StepReport): boolean {
  return due(ta.save_strategy, state.save_steps, state, report);
}

/** The callbacks of a run, in the order they run after each step. */
export function trainingCallbacks(ctx: CallbackContext): {
  callbacks: Callback[];
  lastEvalLoss: () => number | undefined;
} {
  const { args, state, stage, options } = ctx;
  const ta = args.training;
  const emitLog = (entry: LogEntry) => {
    const line = ctx.logWriter.onLog(state);
    ctx.trackers?.log(entry);
    options.events?.onLog?.(entry, line);
  };
  const callbacks: Callback[] = [];

  if (options.events?.onStep) {
    const onStep = options.events.onStep;
    callbacks.push({
      onStep: (r) =>
        onStep({
          step: state.global_step,
          maxSteps: state.max_steps,
          loss: r.outcome.loss,
          lr: r.lr,
          epoch: state.epoch ?? 0,
          gradNorm: r.outcome.gradNorm,
        }),
    });
  }

  if (options.progress !== false) {
    const progress = new Progress({ stream: options.progress ?? process.stderr });
    progress.start(state.global_step, state.max_steps);
    callbacks.push({
      onStep: (r) => {
        const reward = r.outcome.metrics[0]?.reward;
        progress.update({
          step: state.global_step,
          total: state.max_steps,
          loss: r.outcome.loss,
          ...(reward === undefined ? {} : { reward }),
          lr: r.nextLr,
          epoch: state.epoch ?? 0,
        });
      },
      onEnd: () => progress.done(),
    });
  }

  // The training-loss entry: every logging_steps / each epoch, and the last step's leftover interval.
  let interval: StepOutcome[] = [];
  callbacks.push({
    onStep: (r) => {
      interval.push(r.outcome);
      if (
        due(ta.logging_strategy, state.logging_steps, state, r) ||
        (r.last && interval.length > 0 && ta.logging_strategy !== 'no')
      ) {
        emitLog(state.log(stage.logMetrics(interval, r.lr)));
        interval = [];
      }
    },
  });

  let lastEvalLoss: number | undefined;
  if (stage.evaluate && ta.eval_strategy !== 'no') {
    const evaluate = stage.evaluate.bind(stage);
    callbacks.push({
      onStep: (r) => {
        if (!due(ta.eval_strategy, state.eval_steps, state, r)) return;
        const metrics: Metrics = evaluate();
        const evalLoss = metrics.eval_loss as number;
        if (args.finetuning.stage === 'pt') metrics.eval_perplexity = perplexity(evalLoss);
        emitLog(state.log(metrics));
        lastEvalLoss = evalLoss;
        if (ta.lr_scheduler_type === 'reduce_lr_on_plateau') ctx.scheduler.step(evalLoss);
      },
    });
  }

  callbacks.push({
    onStep: (r) => {
      if (saveDue(ta, state, r)) ctx.checkpointer.save();
    },
  });
  return { callbacks, lastEvalLoss: () => lastEvalLoss };
}
