/**
 * A training stage is what the loop of trainer.ts runs, step by step: pt/sft (sft.ts), rm (rm.ts), dpo/orpo and the
 * other pairwise losses (dpo.ts), kto (kto.ts) and ppo (ppo.ts). The loop owns the optimizer, the LR schedule, the
 * state and the callbacks (log, evaluation, checkpoints, progress); a stage owns its data order, the forward and
 * backward of a step, what it logs and any weights beyond the causal LM's.
 *
 * The stages with a per-micro-batch objective (everything but ppo) describe only that objective (`Objective`);
 * accumulation.ts turns one into a Stage with HF Trainer's batching and gradient accumulation.
 */
import { scale, type Tensor } from '../engine/index.js';

export type Metrics = Record<string, number>;

/** The shape of a run: how many steps, how they map to epochs, how the schedule and results count them. */
export interface RunPlan {
  /** Training steps of the run (TrainerState.max_steps). */
  maxSteps: number;
  /** TrainerState.num_train_epochs. */
  numTrainEpochs: number;
  /** Steps the LR schedule spans (ppo sizes it as LLaMA-Factory does; elsewhere maxSteps). */
  scheduleSteps: number;
  /** TrainerState.epoch once step `step` (0-based) is done. */
  epochAfter(step: number): number;
  /** Whether step `step` (0-based) is the last of an epoch (the `epoch` logging/eval/save strategies). */
  endsEpoch(step: number): boolean;
  /** Training samples a complete run sees (train_results' samples_per_second). */
  samples: number;
  /** The "***** Running training *****" line. */
  banner: string;
}

/** What one training step did. */
export interface StepOutcome {
  /** The step's training loss (what trainer_log's loss averages over a logging interval). */
  loss: number;
  /** Gradient norm (before clipping) of the step's last optimizer update. */
  gradNorm: number;
  /** Values logged with the loss, combined over the logging interval by the stage's `logMetrics`. */
  metrics: Metrics[];
  /** Non-padding input tokens the step read (HF's num_input_tokens_seen). */
  inputTokens: number;
}

/**
 * Clips the accumulated gradients, checks `loss` and the norm are finite, steps the optimizer and clears the
 * gradients; returns the norm. The loop gives it to `trainStep`, which calls it once per optimizer update.
 */
export type Optimize = (loss: number) => number;

export interface Stage {
  readonly plan: RunPlan;
  /** One training step (0-based `step`): its batches' forward and backward, `optimize` after each update. */
  trainStep(step: number, optimize: Optimize): StepOutcome | Promise<StepOutcome>;
  /** eval_loss and the eval_ metrics over the evaluation set; absent when the stage does not evaluate. */
  evaluate?(): Metrics;
  /** The training-loss log entry's metrics for the steps since the last entry; `lr` is the one the stage reports. */
  logMetrics(interval: readonly StepOutcome[], lr: number): Record<string, number>;
  /** The learning rate progress, events and logs report: the next step's (HF Trainer) or the one used (TRL PPO). */
  readonly reportsLr: 'next' | 'used';
  /** A run can continue from one of its checkpoints (ppo cannot, as in LLaMA-Factory). */
  readonly resumable: boolean;
  /** What the user can do when a step's loss or gradient norm is not finite (`dir`: the checkpoint just saved). */
  nonFiniteAdvice(dir: string): string;
  /** Trainable weights outside the causal LM (names as saved). */
  extraParameters?(): [string, Tensor][];
  /** Saves / restores those weights beside the model's (output_dir and checkpoints). */
  saveExtra?(dir: string): void;
  loadExtra?(dir: string): void;
  /** Keys plot_loss draws besides loss and eval_loss (LLaMA-Factory's per-stage choice). */
  readonly plotKeys: readonly string[];
  /** Frees what the stage holds (a reference or reward model, a value head). */
  dispose?(): void;
}

// ---- per-micro-batch objectives (sft, rm, dpo, kto) -------------------------------------------------------------

export interface StepResult {
  /** This micro-batch's share of the update's loss (the shares of an update add up to its loss). */
  loss: number;
  /** Values logged with the loss, combined over the logging interval by `summarize`. */
  metrics: Metrics;
}

export interface EvalResult {
  /** Mean loss of the batch. */
  loss: number;
  /** Samples the batch holds (pairs for rm/dpo): the weight of its loss and metrics in the eval average. */
  count: number;
  metrics: Metrics;
}

export interface Objective<R = unknown, B = unknown> {
  /** Pads a micro-batch of processed records. */
  collate(records: readonly R[]): B;
  /** Non-padding input tokens of a batch (HF's num_input_tokens_seen). */
  inputTokens(batch: B): number;
  /** Forward and backward of one micro-batch; `update` holds every micro-batch of the same optimizer update. */
  step(batch: B, update: readonly B[]): StepResult;
  /** Loss and metrics of one evaluation batch, without a tape. */
  evaluate(batch: B): EvalResult;
  /** Per-micro-batch metrics of a logging interval -> the logged values (default: the mean of each key). */
  summarize?(entries: readonly Metrics[]): Metrics;
  extraParameters?(): [string, Tensor][];
  saveExtra?(dir: string): void;
  loadExtra?(dir: string): void;
  readonly plotKeys: readonly string[];
  dispose?(): void;
}

/** The mean of each key over the entries that have it. */
export function meanMetrics(entries: readonly Metrics[]): Metrics {
  const sums = new Map<string, [number, number]>();
  for (const e of entries)
    for (const [k, v] of Object.entries(e)) {
      const s = sums.get(k) ?? [0, 0];
      sums.set(k, [s[0] + v, s[1] + 1]);
    }
  return Object.fromEntries([...sums].map(([k, [s, n]]) => [k, s / n]));
}

/**
 * HF's accumulation for stages whose loss is a per-micro-batch mean (rm, dpo, kto): each micro-batch's loss divided
 * by the number of micro-batches in the update, back-propagated. Returns that share. Call inside the step's scope.
 */
export function backwardMeanShare(loss: Tensor, microBatches: number): number {
  const share = scale(loss, 1 / microBatches);
  share.backward();
  return share.item();
}
