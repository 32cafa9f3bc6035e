/**
 * Stage kto: LLaMA-Factory's CustomKTOTrainer (TRL's KTO loss). A micro-batch holds B examples, each a prompt with
 * one reply tagged desirable (kto_tag true) or undesirable, plus its mismatched pair (the same prompt with another
 * example's reply, built by the feedback processor) for the KL estimate. Policy log-probs of the KL rows and all
 * reference log-probs are computed without a tape; log-probs are summed over response tokens.
 * Logged values follow LLaMA-Factory + TRL's KTO log: rewards/logps per side are sums over the interval divided by
 * the number of rows of that side, rewards/margins = chosen - rejected, kl = the mean of the micro-batches' KL.
 */
import { type CollatorOptions, collateFeedback, type FeedbackBatch } from '../data/collator.js';
import type { FeedbackRecord } from '../data/processors/types.js';
import { add, mul, noGrad, scale, scope, sumAll, Tensor, takeRows } from '../engine/index.js';
import type { CausalLM } from '../models/causal-lm.js';
import { type Reference, referenceLogProbs, sequenceLogProbs, type TokenRows } from './dpo.js';
import { type KtoLossConfig, ktoKl, ktoLoss } from './preference-loss.js';
import { countNonZero } from './sft.js';
import { backwardMeanShare, type Metrics, type Objective } from './stage.js';

export interface KtoObjectiveOptions {
  collateOptions: CollatorOptions;
  loss: KtoLossConfig;
  /** pref_ftx: weight of the SFT loss on desirable rows. */
  ftx: number;
  reference: Reference;
}

function klRows(batch: FeedbackBatch): TokenRows {
  return { inputIds: batch.klInputIds, attentionMask: batch.klAttentionMask, labels: batch.klLabels };
}

/** Sum of each key over the interval, then LLaMA-Factory's per-side averages and the margin. */
export function summarizeKto(entries: readonly Metrics[]): Metrics {
  const sum = new Map<string, number>();
  for (const e of entries) for (const [k, v] of Object.entries(e)) sum.set(k, (sum.get(k) ?? 0) + v);
  const out: Metrics = {};
  for (const side of ['chosen', 'rejected'] as const) {
    const n = sum.get(`count/${side}`) ?? 0;
    if (n === 0) continue;
    for (const key of ['rewards', 'logps']) out[`${key}/${side}`] = (sum.get(`${key}/${side}_sum`) ?? 0) / n;
  }
  if (out['rewards/chosen'] !== undefined && out['rewards/rejected'] !== undefined)
    out['rewards/margins'] = out['rewards/chosen'] - out['rewards/rejected'];
  if (entries.length > 0) out.kl = (sum.get('kl') ?? 0) / entries.length;
  return out;
}

export function ktoObjective(model: CausalLM, o: KtoObjectiveOptions): Objective<FeedbackRecord, FeedbackBatch> {
  if (o.reference.kind === 'none') throw new Error('KTO needs a reference model');
  const { beta } = o.loss;

  const lossAndMetrics = (batch: FeedbackBatch): { loss: Tensor; metrics: Metrics } => {
    const rows = batch.inputIds.shape[0];
    const tags = Array.from(batch.ktoTags, (x) => x !== 0);
    const chosenIdx = tags.flatMap((c, i) => (c ? [i] : []));
    const rejectedIdx = tags.flatMap((c, i) => (c ? [] : [i]));
    const policy = sequenceLogProbs(model, batch, false);
    const policyKl = noGrad(() => sequenceLogProbs(model, klRows(batch), false).logps.toFloat32Array());
    const reference = referenceLogProbs(model, o.reference, batch, false);
    const referenceKl = referenceLogProbs(model, o.reference, klRows(batch), false).toFloat32Array();
    const kl = ktoKl(policyKl, referenceKl);
    const side = (idx: number[]) =>
      idx.length > 0 ? { policy: takeRows(policy.logps, idx), reference: takeRows(reference, idx) } : null;
    const chosen = side(chosenIdx);
    const rejected = side(rejectedIdx);
    let loss = ktoLoss(o.loss, kl, chosen, rejected);
    if (o.ftx > 1e-6 && chosen) {
      // LLaMA-Factory: ftx * mean over desirable rows of (-logp / length), / #desirable * #rows
      const nc = chosenIdx.length;
      const inv = chosenIdx.map((i) => -1 / Math.max(policy.lengths[i] as number, 1));
      const sftSum = sumAll(mul(chosen.policy, Tensor.from(inv, [nc])));
      loss = add(loss, scale(sftSum, ((o.ftx / nc) * rows) / nc));
    }
    const metrics: Metrics = { kl };
    const pl = policy.logps.toFloat32Array();
    const rl = reference.toFloat32Array();
    for (const [name, idx] of [
      ['chosen', chosenIdx],
      ['rejected', rejectedIdx],
    ] as const) {
      if (idx.length === 0) continue;
      metrics[`rewards/${name}_sum`] = idx.reduce((a, i) => a + beta * ((pl[i] as number) - (rl[i] as number)), 0);
      metrics[`logps/${name}_sum`] = idx.reduce((a, i) => a + (pl[i] as number), 0);
      metrics[`count/${name}`] = idx.length;
    }
    return { loss, metrics };
  };

  return {
    collate: (records) => collateFeedback(records, o.collateOptions),
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
          return { loss: loss.item(), count: batch.inputIds.shape[0], metrics: summarizeKto([metrics]) };
        }),
      );
    },
    summarize: summarizeKto,
    plotKeys: ['rewards/chosen'],
    dispose() {
      if (o.reference.kind === 'model') o.reference.model.dispose();
    },
  };
}
