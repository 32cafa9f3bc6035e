/**
 * Stage dpo: LLaMA-Factory's CustomDPOTrainer. Each micro-batch holds B chosen rows then their B rejected rows
 * (collatePairwise). A row's log-prob is the sum of its response tokens' log-probs (labels != -100, shifted as HF),
 * divided by their count for ipo/orpo/simpo. The reference is a frozen model (ref_model, or a copy of the base for
 * full/freeze tuning) or, for LoRA without ref_model, the policy with its adapter switched off; its log-probs are
 * computed without a tape. Losses and metrics: src/train/preference-loss.ts.
 * ld_alpha (LD-DPO) weighs the policy's tokens past the shorter reply's length (ldDpoTokenWeights); the reference's
 * log-probs stay plain sums, as in LLaMA-Factory. pref_bco_weight adds the BCO term with a running reward baseline
 * that lives in the stage (saved with checkpoints so a resumed run continues it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CollatedBatch, type CollatorOptions, collatePairwise } from '../data/collator.js';
import type { PairwiseRecord } from '../data/processors/types.js';
import { add, meanAll, mul, noGrad, scale, scope, sumLastDim, Tensor, takeRows } from '../engine/index.js';
import { writeJsonAtomic } from '../io/atomic.js';
import type { CausalLM } from '../models/causal-lm.js';
import {
  averagesLogProbs,
  bcoLosses,
  meanReward,
  type PreferenceLossConfig,
  preferenceLosses,
  preferenceMetrics,
  preferenceRewards,
  RunningMean,
  usesReferenceModel,
  withBco,
} from './preference-loss.js';
import { countNonZero } from './sft.js';
import { backwardMeanShare, type Metrics, type Objective } from './stage.js';

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
 * LD-DPO's token weights [R * T] for pairwise rows (R / 2 chosen rows, then their rejected rows), as LLaMA-Factory's
 * get_batch_logps(ld_alpha): position p weighs the log-prob of label p + 1 (HF's shift). A pair shares
 * m = min(response tokens of chosen, of rejected); in each row the response positions before first + m (first = the
 * row's first response position) weigh 1, the later ("verbose") ones `alpha`, every other position 0.
 */
export function ldDpoTokenWeights(labels: TokenRows['labels'], alpha: number): Float32Array {
  const [r, t] = labels.shape;
  if (r % 2 !== 0) throw new Error(`ld_alpha needs chosen/rejected row pairs, got ${r} rows`);
  const lengths = responseLengths(labels);
  const pairs = r / 2;
  const weights = new Float32Array(r * t);
  for (let row = 0; row < r; row++) {
    const pair = row % pairs;
    const shorter = Math.min(lengths[pair] as number, lengths[pair + pairs] as number);
    const isResponse = (p: number) => p < t - 1 && (labels.data[row * t + p + 1] as number) !== -100;
    let first = 0; // torch.argmax of an all-false mask is 0
    while (first < t - 1 && !isResponse(first)) first++;
    for (let p = 0; p < t - 1; p++) if (isResponse(p)) weights[row * t + p] = p < first + shorter ? 1 : alpha;
  }
  return weights;
}

/**
 * Per-row summed log-probs [R] of the response tokens (length-averaged when `average`), and each position's logit
 * sum over the vocabulary (metrics), without [R, T, V] logits (CausalLM.labelLogProbs). With `ldAlpha` the rows are
 * chosen/rejected pairs and each token's log-prob is weighted by ldDpoTokenWeights (the average still divides by the
 * response token count, as LLaMA-Factory). Recorded when the tape is on.
 */
export function sequenceLogProbs(
  model: CausalLM,
  rows: TokenRows,
  average: boolean,
  ldAlpha?: number,
): { logps: Tensor; logitSums: Float32Array; lengths: number[] } {
  const [r, t] = rows.inputIds.shape;
  const { logProbs: perToken, logitSums } = model.labelLogProbs({
    inputIds: rows.inputIds,
    attentionMask: rows.attentionMask,
    labels: rows.labels,
  });
  const weighted =
    ldAlpha === undefined ? perToken : mul(perToken, Tensor.from(ldDpoTokenWeights(rows.labels, ldAlpha), [r, t]));
  const sums = sumLastDim(weighted);
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
  return { logps, logitSums, lengths };
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

/** Mean logit of the first and second half of the rows [2B, T, V] (metrics) from each position's logit sum over
 * the vocabulary, summed in double. */
function halfLogitMeans(logitSums: Float32Array, vocabSize: number): [number, number] {
  const positions = logitSums.length;
  let first = 0;
  let second = 0;
  for (let i = 0; i < positions; i++) {
    if (i < positions / 2) first += logitSums[i] as number;
    else second += logitSums[i] as number;
  }
  const half = (positions / 2) * vocabSize;
  return [first / half, second / half];
}

export interface DpoObjectiveOptions {
  collateOptions: CollatorOptions;
  loss: PreferenceLossConfig;
  /** pref_ftx: weight of the SFT loss (mean chosen log-prob per token, negated) added to each pair's loss. */
  ftx: number;
  /** pref_bco_weight: weight of the BCO term (0: none); used with reference-model losses only. */
  bcoWeight?: number;
  /** ld_alpha (LD-DPO): weight of the policy's verbose tokens; undefined = plain sums. */
  ldAlpha?: number;
  reference: Reference;
}

/** The BCO baseline's file in checkpoints (and beside the trained model). */
export const BCO_STATE_FILE = 'bco_running_mean.json';

export function dpoObjective(model: CausalLM, o: DpoObjectiveOptions): Objective<PairwiseRecord, CollatedBatch> {
  const { loss: cfg } = o;
  const average = averagesLogProbs(cfg.type);
  if (usesReferenceModel(cfg.type) && o.reference.kind === 'none')
    throw new Error(`pref_loss ${cfg.type} needs a reference model`);
  const bcoWeight = usesReferenceModel(cfg.type) ? (o.bcoWeight ?? 0) : 0;
  const useBco = bcoWeight > 1e-6;
  // the BCO reward baseline: this stage's own state, deterministic (a pure function of the batches seen)
  const baseline = new RunningMean();

  /** The batch's mean loss (recorded) and its metrics. */
  const lossAndMetrics = (batch: CollatedBatch): { loss: Tensor; metrics: Metrics } => {
    const pairs = batch.inputIds.shape[0] / 2;
    const first = Array.from({ length: pairs }, (_, i) => i);
    const second = first.map((i) => i + pairs);
    const policy = sequenceLogProbs(model, batch, average, o.ldAlpha);
    const pol = { chosen: takeRows(policy.logps, first), rejected: takeRows(policy.logps, second) };
    let ref: { chosen: Tensor; rejected: Tensor } | undefined;
    if (usesReferenceModel(cfg.type)) {
      const r = referenceLogProbs(model, o.reference, batch, average);
      ref = { chosen: takeRows(r, first), rejected: takeRows(r, second) };
    }
    let losses = preferenceLosses(cfg, pol, ref);
    const pc = pol.chosen.toFloat32Array();
    const pr = pol.rejected.toFloat32Array();
    const rewards = preferenceRewards(
      cfg.beta,
      { chosen: pc, rejected: pr },
      ref ? { chosen: ref.chosen.toFloat32Array(), rejected: ref.rejected.toFloat32Array() } : undefined,
    );
    if (useBco && ref) {
      const delta = baseline.update([meanReward(rewards)]);
      losses = withBco(losses, bcoLosses(cfg.beta, delta, pol, ref), bcoWeight);
    }
    // sft_loss = -(chosen log-prob per response token)
    const chosenLengths = policy.lengths.slice(0, pairs).map((n) => 1 / Math.max(n, 1));
    const sftLoss = average ? scale(pol.chosen, -1) : scale(mul(pol.chosen, Tensor.from(chosenLengths, [pairs])), -1);
    if (o.ftx > 1e-6) losses = add(losses, scale(sftLoss, o.ftx));
    const [chosenLogitsMean, rejectedLogitsMean] = halfLogitMeans(policy.logitSums, model.config.vocabSize);
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
    ...(useBco
      ? {
          saveExtra(dir: string) {
            writeJsonAtomic(join(dir, BCO_STATE_FILE), { mean: baseline.mean, count: baseline.count });
          },
          loadExtra(dir: string) {
            const file = join(dir, BCO_STATE_FILE);
            // a checkpoint written without BCO starts the baseline afresh, as LLaMA-Factory always does
            if (!existsSync(file)) return;
            const saved = JSON.parse(readFileSync(file, 'utf8')) as { mean: number; count: number };
            baseline.mean = saved.mean;
            baseline.count = saved.count;
          },
        }
      : {}),
    dispose() {
      if (o.reference.kind === 'model') o.reference.model.dispose();
    },
  };
}
