/**
 * The preference losses of LLaMA-Factory's DPO and KTO trainers (TRL's mathematics), on [B] vectors of sequence
 * log-probabilities. Inputs and outputs are recorded tensors, so the gradient reaches the policy's log-probs;
 * reference log-probs are constants.
 *
 * With logits = (pc - pr) - (rc - rr) (policy / reference, chosen / rejected):
 *   sigmoid: -(1 - ls) logsigmoid(beta logits) - ls logsigmoid(-beta logits)      (cDPO label smoothing ls)
 *   hinge:   relu(1 - beta logits)
 *   ipo:     (logits - 1 / (2 beta))^2                                          (log-probs length-averaged)
 *   orpo:    -pc + beta * -logsigmoid(log_odds),  log_odds = (pc - pr) - (log(1 - e^pc) - log(1 - e^pr))
 *   simpo:   -logsigmoid(beta (pc - pr - gamma / beta))
 *   kto_pair (TRL's DPO loss_type, eqn (7) of the HALOs paper): with c = pc - rc, r = pr - rr and the batch KL
 *            estimates KLc = max(mean(c), 0), KLr = max(mean(r), 0) (not detached; torch's clamp passes the gradient
 *            at 0), TRL's 2B losses are 1 - sigmoid(beta (c - KLr)) and 1 - sigmoid(beta (KLc - r)); here pair i
 *            carries the mean of its two, so the mean over pairs is TRL's mean over 2B rows.
 * orpo and simpo use no reference model; their rewards are beta * logp, the others' beta * (policy - reference).
 * BCO (pref_bco_weight w > 0, reference-model losses only; LLaMA-Factory's CustomDPOTrainer.bco_loss):
 *   delta = running mean of the batches' mean reward (TRL's RunningMoments), updated before use;
 *   bco = -logsigmoid(beta c - delta) - logsigmoid(-(beta r - delta)); loss = (loss + w bco) / (1 + w).
 * KTO: kl = max(mean(policy_KL - reference_KL), 0) over mismatched (prompt, other reply) pairs, a constant;
 *   desirable: 1 - sigmoid(beta (pc - rc - kl)), undesirable: 1 - sigmoid(beta (kl - (pr - rr))), weighted by
 *   kto_chosen_weight / kto_rejected_weight and averaged over all rows.
 */
import {
  add,
  addScalar,
  log1mExp,
  logSigmoid,
  mul,
  relu,
  scale,
  sigmoid,
  sub,
  sumAll,
  sumLastDim,
  Tensor,
  takeRows,
} from '../engine/index.js';

export type PreferenceLossType = 'sigmoid' | 'hinge' | 'ipo' | 'kto_pair' | 'orpo' | 'simpo';

export interface PreferenceLossConfig {
  type: PreferenceLossType;
  beta: number;
  /** cDPO's label smoothing (sigmoid only). */
  labelSmoothing: number;
  /** SimPO's target reward margin. */
  simpoGamma: number;
}

/** orpo and simpo are reference-free (LLaMA-Factory's use_ref_model is false for them). */
export function usesReferenceModel(type: PreferenceLossType): boolean {
  return type !== 'orpo' && type !== 'simpo';
}

/** LLaMA-Factory averages the response log-probs over their tokens for ipo, orpo and simpo. */
export function averagesLogProbs(type: PreferenceLossType): boolean {
  return type === 'ipo' || type === 'orpo' || type === 'simpo';
}

export interface PairLogProbs {
  /** [B] */
  chosen: Tensor;
  /** [B] */
  rejected: Tensor;
}

/** Per-pair losses [B]; `reference` is required when the loss uses a reference model. */
export function preferenceLosses(cfg: PreferenceLossConfig, policy: PairLogProbs, reference?: PairLogProbs): Tensor {
  const { beta } = cfg;
  if (cfg.type === 'orpo') {
    const logOdds = sub(sub(policy.chosen, policy.rejected), sub(log1mExp(policy.chosen), log1mExp(policy.rejected)));
    return add(scale(policy.chosen, -1), scale(logSigmoid(logOdds), -beta));
  }
  if (cfg.type === 'simpo') {
    const margin = addScalar(sub(policy.chosen, policy.rejected), -cfg.simpoGamma / beta);
    return scale(logSigmoid(scale(margin, beta)), -1);
  }
  if (!reference) throw new Error(`the ${cfg.type} preference loss needs reference log-probs`);
  const logits = sub(sub(policy.chosen, policy.rejected), sub(reference.chosen, reference.rejected));
  if (cfg.type === 'sigmoid') {
    const ls = cfg.labelSmoothing;
    const forward = scale(logSigmoid(scale(logits, beta)), -(1 - ls));
    return ls === 0 ? forward : add(forward, scale(logSigmoid(scale(logits, -beta)), -ls));
  }
  if (cfg.type === 'hinge') return relu(addScalar(scale(logits, -beta), 1));
  if (cfg.type === 'kto_pair') return ktoPairLosses(beta, policy, reference);
  const d = addScalar(logits, -1 / (2 * beta));
  return mul(d, d);
}

/** max(mean(x), 0) broadcast to x's shape [B], with torch's clamp gradient (passed where mean >= 0). */
function clampedMean(x: Tensor): Tensor {
  const b = x.numel;
  const mean = scale(sumLastDim(x), 1 / b); // [1]
  if (mean.item() < 0) return Tensor.zeros([b]);
  return takeRows(mean, new Array<number>(b).fill(0));
}

/** TRL's kto_pair, one value per pair: the mean of the pair's desirable and undesirable terms. */
function ktoPairLosses(beta: number, policy: PairLogProbs, reference: PairLogProbs): Tensor {
  const chosen = sub(policy.chosen, reference.chosen);
  const rejected = sub(policy.rejected, reference.rejected);
  // 1 - sigmoid(beta (chosen - KL_rejected)): the KL of each side is estimated from the other half of the batch
  const desirable = addScalar(scale(sigmoid(scale(sub(chosen, clampedMean(rejected)), beta)), -1), 1);
  const undesirable = addScalar(scale(sigmoid(scale(sub(clampedMean(chosen), rejected), beta)), -1), 1);
  return scale(add(desirable, undesirable), 0.5);
}

/**
 * TRL's RunningMoments as LLaMA-Factory's BCO term uses it: only the mean is read, and each update is one value
 * (the batch's mean reward). Starts at mean 0 and count 1e-24, so the first update makes the mean that value; kept
 * in double. One per trainer (a stage instance), updated by every training and evaluation batch, as in
 * LLaMA-Factory.
 */
export class RunningMean {
  constructor(
    public mean = 0,
    public count = 1e-24,
  ) {}

  /** Adds the values' mean with weight values.length (TRL's update with var_mean); returns the new mean. */
  update(values: ArrayLike<number>): number {
    const n = values.length;
    if (n === 0) throw new Error('RunningMean.update: no values');
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[i] as number;
    const total = this.count + n;
    this.mean += ((sum / n - this.mean) * n) / total;
    this.count = total;
    return this.mean;
  }
}

/**
 * LLaMA-Factory's BCO loss per pair [B] for a given baseline `delta`:
 * -logsigmoid(beta (pc - rc) - delta) - logsigmoid(-(beta (pr - rr) - delta)).
 */
export function bcoLosses(beta: number, delta: number, policy: PairLogProbs, reference: PairLogProbs): Tensor {
  const chosen = addScalar(scale(sub(policy.chosen, reference.chosen), beta), -delta);
  const rejected = addScalar(scale(sub(policy.rejected, reference.rejected), -beta), delta);
  return scale(add(logSigmoid(chosen), logSigmoid(rejected)), -1);
}

/** The batch's mean reward, cat(chosen, rejected).mean() of preferenceRewards (BCO's baseline update). */
export function meanReward(rewards: { chosen: readonly number[]; rejected: readonly number[] }): number {
  let sum = 0;
  for (const r of rewards.chosen) sum += r;
  for (const r of rewards.rejected) sum += r;
  return sum / (rewards.chosen.length + rewards.rejected.length);
}

/** (losses + w bco) / (1 + w): LLaMA-Factory's re-weighting of the preference loss with the BCO term. */
export function withBco(losses: Tensor, bco: Tensor, weight: number): Tensor {
  return scale(add(losses, scale(bco, weight)), 1 / (1 + weight));
}

/** Rewards per pair (metrics only): beta * (policy - reference), or beta * policy without a reference. */
export function preferenceRewards(
  beta: number,
  policy: { chosen: ArrayLike<number>; rejected: ArrayLike<number> },
  reference?: { chosen: ArrayLike<number>; rejected: ArrayLike<number> },
): { chosen: number[]; rejected: number[] } {
  const reward = (p: ArrayLike<number>, r: ArrayLike<number> | undefined) =>
    Array.from(p, (v, i) => beta * (v - (r ? (r[i] as number) : 0)));
  return { chosen: reward(policy.chosen, reference?.chosen), rejected: reward(policy.rejected, reference?.rejected) };
}

/** LLaMA-Factory's DPO metrics from per-pair values (rewards, policy log-probs, mean logits per half). */
export function preferenceMetrics(values: {
  chosenRewards: readonly number[];
  rejectedRewards: readonly number[];
  chosenLogps: ArrayLike<number>;
  rejectedLogps: ArrayLike<number>;
  chosenLogitsMean: number;
  rejectedLogitsMean: number;
}): Record<string, number> {
  const mean = (x: ArrayLike<number>) => Array.from(x).reduce((a, b) => a + b, 0) / x.length;
  const c = values.chosenRewards;
  const r = values.rejectedRewards;
  return {
    'rewards/chosen': mean(c),
    'rewards/rejected': mean(r),
    'rewards/accuracies': mean(c.map((v, i) => (v > (r[i] as number) ? 1 : 0))),
    'rewards/margins': mean(c.map((v, i) => v - (r[i] as number))),
    // LLaMA-Factory's insertion order (it is the key order of trainer_state.json's log entries)
    'logps/rejected': mean(values.rejectedLogps),
    'logps/chosen': mean(values.chosenLogps),
    'logits/rejected': values.rejectedLogitsMean,
    'logits/chosen': values.chosenLogitsMean,
  };
}

export interface KtoLossConfig {
  beta: number;
  chosenWeight: number;
  rejectedWeight: number;
}

/** The KL estimate: max(mean(policy_KL - reference_KL), 0), a constant (TRL detaches it). */
export function ktoKl(policyKl: ArrayLike<number>, referenceKl: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < policyKl.length; i++) s += (policyKl[i] as number) - (referenceKl[i] as number);
  return Math.max(s / policyKl.length, 0);
}

/**
 * The KTO loss (a scalar): the weighted per-row losses of desirable (chosen) and undesirable (rejected) rows,
 * averaged over all rows. Either side may be absent from a batch.
 */
export function ktoLoss(
  cfg: KtoLossConfig,
  kl: number,
  chosen: { policy: Tensor; reference: Tensor } | null,
  rejected: { policy: Tensor; reference: Tensor } | null,
): Tensor {
  const { beta } = cfg;
  const parts: Tensor[] = [];
  let rows = 0;
  if (chosen) {
    // 1 - sigmoid(beta (ratio - kl))
    const z = scale(addScalar(sub(chosen.policy, chosen.reference), -kl), beta);
    parts.push(scale(sumAll(addScalar(scale(sigmoid(z), -1), 1)), cfg.chosenWeight));
    rows += chosen.policy.numel;
  }
  if (rejected) {
    // 1 - sigmoid(beta (kl - ratio))
    const z = scale(addScalar(sub(rejected.reference, rejected.policy), kl), beta);
    parts.push(scale(sumAll(addScalar(scale(sigmoid(z), -1), 1)), cfg.rejectedWeight));
    rows += rejected.policy.numel;
  }
  const [first, second] = parts;
  if (!first) throw new Error('ktoLoss: the batch has neither desirable nor undesirable rows');
  return scale(second ? add(first, second) : first, 1 / rows);
}
