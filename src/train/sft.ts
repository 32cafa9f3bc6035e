/**
 * The causal-LM objective of the pt and sft stages: cross-entropy of each next token whose label is not -100.
 * Over an accumulated batch the loss is the sum over all its counted tokens divided by their total count (not a
 * mean of per-micro-batch means), so micro-batches of different lengths weigh what their tokens weigh.
 */

import { type CollatedBatch, type CollatorOptions, collate } from '../data/collator.js';
import type { SupervisedRecord } from '../data/processors/types.js';
import { noGrad, scale, scope } from '../engine/index.js';
import type { CausalLM, ForwardInput } from '../models/causal-lm.js';
import type { Objective } from './stage.js';

/** Labels the loss counts: labels[:, t + 1] != -100 (the shift HF applies). */
export function countedTokens(labels: { data: Int32Array; shape: readonly [number, number] }): number {
  const [b, t] = labels.shape;
  let n = 0;
  for (let r = 0; r < b; r++) for (let j = 1; j < t; j++) if ((labels.data[r * t + j] as number) !== -100) n++;
  return n;
}

/** A collated batch as the model's forward input (packed rows carry positions, neat packing segment ids). */
function forwardInput(batch: CollatedBatch): ForwardInput & { labels: CollatedBatch['labels'] } {
  return {
    inputIds: batch.inputIds,
    attentionMask: batch.attentionMask,
    labels: batch.labels,
    ...(batch.positionIds ? { positionIds: batch.positionIds } : {}),
    ...(batch.segmentIds ? { segmentIds: batch.segmentIds } : {}),
  };
}

/** Forward + backward of one micro-batch; returns its share of the accumulated loss (sum / totalTokens). */
export function causalLmStep(model: CausalLM, batch: CollatedBatch, totalTokens: number): number {
  return scope(() => {
    const { loss } = model.forward({ ...forwardInput(batch), lossReduction: 'sum', returnLogits: false });
    const share = scale(loss, 1 / Math.max(totalTokens, 1));
    share.backward();
    return share.item();
  });
}

/**
 * Mean loss of one evaluation batch (HF: the batch's mean over its counted tokens). Without the tape: the fused loss
 * would otherwise compute the gradients of trainable weights in its forward.
 */
export function causalLmEvalLoss(model: CausalLM, batch: CollatedBatch): { loss: number; tokens: number } {
  return scope(() =>
    noGrad(() => {
      const { loss } = model.forward({ ...forwardInput(batch), returnLogits: false });
      return { loss: loss.item(), tokens: countedTokens(batch.labels) };
    }),
  );
}

/** Non-padding positions of an attention mask (HF's num_input_tokens_seen counts these). */
export function countNonZero(mask: Int32Array): number {
  let n = 0;
  for (const x of mask) if (x !== 0) n++;
  return n;
}

/** The objective of the pt and sft stages: the causal-LM loss, token-weighted over the accumulated batch. */
export function sftObjective(model: CausalLM, options: CollatorOptions): Objective<SupervisedRecord, CollatedBatch> {
  return {
    collate: (records) => collate(records, options),
    inputTokens: (b) => countNonZero(b.attentionMask.data),
    step(batch, update) {
      const total = update.reduce((a, b) => a + countedTokens(b.labels), 0);
      return { loss: causalLmStep(model, batch, total), metrics: {} };
    },
    // HF repeats each batch's mean loss per sample, then averages
    evaluate: (batch) => ({ loss: causalLmEvalLoss(model, batch).loss, count: batch.inputIds.shape[0], metrics: {} }),
    plotKeys: [],
  };
}
