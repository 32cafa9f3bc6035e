/**
 * Stage dpo: LLaMA-Factory's CustomDPOTrainer. Each micro-batch holds B chosen rows then their B rejected rows
 * (collatePairwise). A row's log-prob is the sum of its response tokens' log-probs (labels != -100, shifted as HF),
 * divided by their count for ipo/orpo/simpo. The reference is a frozen model (ref_model, or a copy of the base for
 * full/freeze tuning) or, for LoRA without ref_model, the policy with its adapter switched off; its log-probs are
 * computed without a tape. Losses and metrics: src/train/preference-loss.ts.
 */
import { type CollatedBatch, type CollatorOptions, collatePairwise } from '../data/collator.js';
import type { PairwiseRecord } from '../data/processors/types.js';
import {
  add,
  meanAll,
  mul,
  noGrad,
  scale,
  scope,
  shiftLabels,
  sumLastDim,
  Tensor,
  takeRows,
  tokenLogProbs,
} from '../engine/index.js';
import type { CausalLM } from '../models/causal-lm.js';
import {
  averagesLogProbs,
  type PreferenceLossConfig,
  preferenceLosses,
  preferenceMetrics,
  preferenceRewards,
  usesReferenceModel,
} from './preference-loss.js';
import { countNonZero } from './sft.js';
import { backwardMeanShare, type Metrics, type Stage } from './stage.js';

/** Where reference log-probs come from: a frozen model, or the policy with its LoRA adapter disabled. */
export type Reference = { kind: 'model'; model: CausalLM } | { kind: 'adapter-disabled' } | { kind: 'none' };

export interface TokenRows {
  inputIds: { data: Int32Array; shape: [number, number] };
  attentionMask: { data: Int32Array; shape: [number, number] };
  labels: { data: Int32Array; shape: [number, number] };
}

/** Response tokens per row: labels[:, 1:] != -100 (LLaMA-Factory's valid_length). */
export function responseLengths(labels: TokenRows['labels']): number[] {
  const [b, t] = labels.shape;
  return Array.from({ length: b }, (_, r) => {
    let n = 0;
    for (let j = 1; j < t; j++) if ((labels.data[r * t + j] as number) !== -100) n++;
    return n;
  });
}

/**
 * Per-row summed log-probs [R] of the response tokens (length-averaged when `average`), and the logits [R, T, V].
 * Recorded when the tape is on.
 */
export function sequenceLogProbs(
  model: CausalLM,
  rows: TokenRows,
  average: boolean,
): { logps: Tensor; logits: Tensor; lengths: number[] } {
  const [r, t] = rows.inputIds.shape;
  const v = model.config.vocabSize;
  const { logits } = model.forward({ inputIds: rows.inputIds, attentionMask: rows.attentionMask });
  const labels = shiftLabels(Tensor.from(rows.labels.data, [r, t], 'i32'));
  const perToken = tokenLogProbs(logits.reshape([r * t, v]), labels.reshape([r * t]));
  const sums = sumLastDim(perToken.reshape([r, t]));
  const lengths = responseLengths(rows.labels);
  const logps = average
    ? mul(
        sums,
        Tensor.from(
          lengths.map((n) => 1 / Math.max(n, 1)),
          [r],
        ),
      )
    : sums;
  return { logps, logits, lengths };
}

/** Reference log-probs [R] as a constant (no tape), from the reference model or the adapter-free policy. */
export function referenceLogProbs(policy: CausalLM, reference: Reference, rows: TokenRows, average: boolean): Tensor {
  return noGrad(() => {
    if (reference.kind === 'model') return sequenceLogProbs(reference.model, rows, average).logps;
    if (reference.kind === 'adapter-disabled')
      return policy.withAdapterDisabled(() => sequenceLogProbs(policy, rows, average).logps);
    throw new Error('this loss needs a reference model, but none was set up');
  });
}

/** Mean logit of the first and second half of the rows [2B, T, V] (metrics; no tape). Row sums over V, then halves
 * summed in double: the ones vector stays [V, 1] however long the batch. */
function halfLogitMeans(logits: Tensor): [number, number] {
  return noGrad(() => {
    const v = logits.shape.at(-1) as number;
    const positions = logits.numel / v;
    const rowSums = sumLastDim(logits.detach().reshape([positions, v])).toFloat32Array();
    let first = 0;
    let second = 0;
    for (let i = 0; i < positions; i++) {
      if (i < positions / 2) first += rowSums[i] as number;
      else second += rowSums[i] as number;
    }
    const half = logits.numel / 2;
    return [first / half, second / half];
  });
}

export interface DpoStageOptions {
  collateOptions: CollatorOptions;
  loss: PreferenceLossConfig;
  /** pref_ftx: weight of the SFT loss (mean chosen log-prob per token, negated) added to each pair's loss. */
  ftx: number;
  reference: Reference;
}

export function dpoStage(model: CausalLM, o: DpoStageOptions): Stage<PairwiseRecord, CollatedBatch> {
  const { loss: cfg } = o;
  const average = averagesLogProbs(cfg.type);
  if (usesReferenceModel(cfg.type) && o.reference.kind === 'none')
    throw new Error(`pref_loss ${cfg.type} needs a reference model`);

  /** The batch's mean loss (recorded) and its metrics. */
  const lossAndMetrics = (batch: CollatedBatch): { loss: Tensor; metrics: Metrics } => {
    const pairs = batch.inputIds.shape[0] / 2;
    const first = Array.from({ length: pairs }, (_, i) => i);
    const second = first.map((i) => i + pairs);
    const policy = sequenceLogProbs(model, batch, average);
    const pol = { chosen: takeRows(policy.logps, first), rejected: takeRows(policy.logps, second) };
    let ref: { chosen: Tensor; rejected: Tensor } | undefined;
    if (usesReferenceModel(cfg.type)) {
      const r = referenceLogProbs(model, o.reference, batch, average);
      ref = { chosen: takeRows(r, first), rejected: takeRows(r, second) };
    }
    let losses = preferenceLosses(cfg, pol, ref);
    // sft_loss = -(chosen log-prob per response token)
    const chosenLengths = policy.lengths.slice(0, pairs).map((n) => 1 / Math.max(n, 1));
    const sftLoss = average ? scale(pol.chosen, -1) : scale(mul(pol.chosen, Tensor.from(chosenLengths, [pairs])), -1);
    if (o.ftx > 1e-6) losses = add(losses, scale(sftLoss, o.ftx));
    const pc = pol.chosen.toFloat32Array();
    const pr = pol.rejected.toFloat32Array();
    const rewards = preferenceRewards(
      cfg.beta,
      { chosen: pc, rejected: pr },
      ref ? { chosen: ref.chosen.toFloat32Array(), rejected: ref.rejected.toFloat32Array() } : undefined,
    );
    const [chosenLogitsMean, rejectedLogitsMean] = halfLogitMeans(policy.logits);
    const metrics = preferenceMetrics({
      chosenRewards: rewards.chosen,
      rejectedRewards: rewards.rejected,
      chosenLogps: pc,
      rejectedLogps: pr,
      chosenLogitsMean,
      rejectedLogitsMean,
    });
    if (cfg.type === 'orpo') {
      const sft = sftLoss.toFloat32Array();
      const all = losses.toFloat32Array();
      const mean = (f: (i: number) => number) => first.reduce((a, i) => a + f(i), 0) / pairs;
      metrics.sft_loss = mean((i) => sft[i] as number);
      metrics.odds_ratio_loss = mean((i) => ((all[i] as number) - (sft[i] as number)) / cfg.beta);
    }
    return { loss: meanAll(losses), metrics };
  };

  return {
    collate: (records) => collatePairwise(records, o.collateOptions),
    inputTokens: (b) => countNonZero(b.attentionMask.data),
    step(batch, update) {
      return scope(() => {
        const { loss, metrics } = lossAndMetrics(batch);
        return { loss: backwardMeanShare(loss, update.length), metrics };
      });
    },
    evaluate(batch) {
      return scope(() =>
        noGrad(() => {
          const { loss, metrics } = lossAndMetrics(batch);
          return { loss: loss.item(), count: batch.inputIds.shape[0] / 2, metrics };
        }),
      );
    },
    plotKeys: ['rewards/accuracies'],
    dispose() {
      if (o.reference.kind === 'model') o.reference.model.dispose();
    },
  };
}
