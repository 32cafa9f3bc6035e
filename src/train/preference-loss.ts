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
 * orpo and simpo use no reference model; their rewards are beta * logp, the others' beta * (policy - reference).
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
  type Tensor,
} from '../engine/index.js';

export type PreferenceLossType = 'sigmoid' | 'hinge' | 'ipo' | 'orpo' | 'simpo';

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
  const d = addScalar(logits, -1 / (2 * beta));
  return mul(d, d);
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
