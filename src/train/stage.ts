/**
 * A training stage plugs its objective into the trainer's update loop (src/train/trainer.ts): how records become
 * micro-batches, the loss and metrics of one micro-batch (forward + backward), evaluation, and any weights beyond
 * the causal LM's (the reward model's value head). One file per stage: sft.ts (pt and sft), rm.ts, dpo.ts, kto.ts.
 */
import { scale, type Tensor } from '../engine/index.js';

export type Metrics = Record<string, number>;

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

export interface Stage<R = unknown, B = unknown> {
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
  /** Trainable weights outside the causal LM (names as saved). */
  extraParameters?(): [string, Tensor][];
  /** Saves / restores those weights beside the model's (output_dir and checkpoints). */
  saveExtra?(dir: string): void;
  loadExtra?(dir: string): void;
  /** Keys plot_loss draws besides loss and eval_loss (LLaMA-Factory's per-stage choice). */
  readonly plotKeys: readonly string[];
  /** Frees what the stage holds (a reference model, a value head). */
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
