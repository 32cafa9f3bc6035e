/**
 * The arithmetic of TRL 0.9's PPOTrainer.step, as LLaMA-Factory's PPO stage configures it, on plain numbers (float64)
 * so it is testable by hand: per-token KL-penalty rewards with the score on the last response token, whitening,
 * GAE, the clipped policy and value losses with their gradients, the adaptive KL controller and the running moments
 * that normalise scores. The model-facing loop is src/train/ppo.ts.
 *
 * Per-token quantities are ragged: one array per sequence holding its response tokens only (TRL's mask selects exactly
 * those positions, so the padded positions it carries never change a result).
 */

export type Rows = readonly ArrayLike<number>[];

/** TRL's PPOConfig defaults that LLaMA-Factory keeps. */
export const PPO_DEFAULTS = {
  initKlCoef: 0.2,
  horizon: 10000,
  gamma: 1,
  lam: 0.95,
  cliprange: 0.2,
  cliprangeValue: 0.2,
  vfCoef: 0.1,
  /** A mini-batch whose mean ratio exceeds this is skipped (its loss multiplied by 0). */
  ratioThreshold: 10,
} as const;

/** torch.finfo(torch.float32).eps: TRL adds it to the running std when scaling scores. */
const F32_EPS = 1.1920928955078125e-7;

function tokenCount(rows: Rows): number {
  let n = 0;
  for (const r of rows) n += r.length;
  return n;
}

/** masked_mean over every response token of every row. */
export function maskedMean(rows: Rows): number {
  const n = tokenCount(rows);
  if (n === 0) throw new Error('maskedMean: no response tokens');
  let s = 0;
  for (const r of rows) for (let i = 0; i < r.length; i++) s += r[i] as number;
  return s / n;
}

/** masked_var: the variance over every response token, with Bessel's correction when `unbiased` (TRL's default). */
export function maskedVar(rows: Rows, unbiased = true): number {
  const n = tokenCount(rows);
  const mean = maskedMean(rows);
  let s = 0;
  for (const r of rows)
    for (let i = 0; i < r.length; i++) {
      const d = (r[i] as number) - mean;
      s += d * d;
    }
  const variance = s / n;
  if (!unbiased) return variance;
  if (n < 2) throw new Error('maskedVar: the unbiased variance needs at least two response tokens');
  return (variance * n) / (n - 1);
}

/** masked_whiten: (x - mean) / sqrt(var + 1e-8), the mean added back when !shiftMean. */
export function whiten(rows: Rows, shiftMean = true): Float64Array[] {
  const mean = maskedMean(rows);
  const rstd = 1 / Math.sqrt(maskedVar(rows) + 1e-8);
  return rows.map((r) => Float64Array.from(r, (x) => (x - mean) * rstd + (shiftMean ? 0 : mean)));
}

export interface KlRewards {
  /** Per token: -klCoef * (logp - ref_logp), plus the score on the last response token. */
  rewards: Float64Array[];
  /** Per token: -klCoef * (logp - ref_logp). */
  nonScore: Float64Array[];
  /** Per sequence: the summed per-token KL estimate (TRL's objective/kl before the batch mean). */
  kl: number[];
}

/** compute_rewards with kl_penalty 'kl'. */
export function klPenaltyRewards(
  scores: readonly number[],
  logprobs: Rows,
  refLogprobs: Rows,
  klCoef: number,
): KlRewards {
  const rewards: Float64Array[] = [];
  const nonScore: Float64Array[] = [];
  const kl: number[] = [];
  logprobs.forEach((lp, i) => {
    const ref = refLogprobs[i] as ArrayLike<number>;
    if (ref.length !== lp.length)
      throw new Error(`klPenaltyRewards: row ${i} has ${lp.length} log-probs, ${ref.length} reference log-probs`);
    if (lp.length === 0) throw new Error(`klPenaltyRewards: row ${i} has no response token`);
    const ns = Float64Array.from(lp, (x, t) => -klCoef * (x - (ref[t] as number)));
    let k = 0;
    for (let t = 0; t < lp.length; t++) k += (lp[t] as number) - (ref[t] as number);
    const r = Float64Array.from(ns);
    r[r.length - 1] = (r[r.length - 1] as number) + (scores[i] as number);
    rewards.push(r);
    nonScore.push(ns);
    kl.push(k);
  });
  return { rewards, nonScore, kl };
}

/**
 * Generalised advantage estimation per sequence, backwards from its last response token (the value after it is 0):
 * delta_t = r_t + gamma * V_{t+1} - V_t, A_t = delta_t + gamma * lam * A_{t+1}; returns = A + V.
 */
export function gae(
  values: Rows,
  rewards: Rows,
  gamma: number,
  lam: number,
): { advantages: Float64Array[]; returns: Float64Array[] } {
  const advantages: Float64Array[] = [];
  const returns: Float64Array[] = [];
  values.forEach((v, i) => {
    const r = rewards[i] as ArrayLike<number>;
    const n = v.length;
    const adv = new Float64Array(n);
    let last = 0;
    for (let t = n - 1; t >= 0; t--) {
      const next = t < n - 1 ? (v[t + 1] as number) : 0;
      const delta = (r[t] as number) + gamma * next - (v[t] as number);
      last = delta + gamma * lam * last;
      adv[t] = last;
    }
    advantages.push(adv);
    returns.push(Float64Array.from(adv, (a, t) => a + (v[t] as number)));
  });
  return { advantages, returns };
}

/**
 * compute_advantages: rewards optionally whitened without shifting their mean (ppo_whiten_rewards), GAE, then the
 * advantages whitened over the whole rollout; returns are not whitened.
 */
export function computeAdvantages(
  values: Rows,
  rewards: Rows,
  o: { gamma: number; lam: number; whitenRewards: boolean },
): { advantages: Float64Array[]; returns: Float64Array[] } {
  const r = o.whitenRewards ? whiten(rewards, false) : rewards;
  const { advantages, returns } = gae(values, r, o.gamma, o.lam);
  return { advantages: whiten(advantages), returns };
}

/** AdaptiveKLController: moves the KL coefficient towards the target KL, at most 20% of n/horizon per update. */
export class AdaptiveKLController {
  constructor(
    public value: number,
    readonly target: number,
    readonly horizon: number,
  ) {}

  /** current: the batch's mean summed KL; nSteps: sequences in the batch. */
  update(current: number, nSteps: number): void {
    const error = Math.min(Math.max(current / this.target - 1, -0.2), 0.2);
    this.value *= 1 + (error * nSteps) / this.horizon;
  }
}

/** RunningMoments: the mean and std of every score seen so far, merged batch by batch (Chan et al.). */
export class RunningMoments {
  mean = 0;
  std = 1;
  var = 1;
  count = 1e-24;

  /** Adds a batch; returns its own mean and (unbiased) std. */
  update(xs: readonly number[]): { mean: number; std: number } {
    const n = xs.length;
    if (n === 0) throw new Error('RunningMoments.update: empty batch');
    const xsMean = xs.reduce((a, b) => a + b, 0) / n;
    const xsVar = xs.reduce((a, x) => a + (x - xsMean) ** 2, 0) / n;
    const delta = xsMean - this.mean;
    const total = this.count + n;
    const oldSum = this.var * this.count + (delta * delta * this.count * n) / total;
    this.mean += (delta * n) / total;
    this.var = (oldSum + xsVar * n) / total;
    this.std = Math.sqrt((this.var * total) / (total - 1));
    this.count = total;
    return { mean: xsMean, std: n > 1 ? Math.sqrt((xsVar * n) / (n - 1)) : Number.NaN };
  }
}

/**
 * TRL's use_score_scaling (+ use_score_norm), both set by ppo_score_norm: the running moments take the batch first,
 * then scores are divided by (running std + eps), after subtracting the running mean when `norm`.
 */
export function scaleScores(scores: readonly number[], moments: RunningMoments, norm: boolean): number[] {
  moments.update(scores);
  const factor = moments.std + F32_EPS;
  return scores.map((s) => (norm ? (s - moments.mean) / factor : s / factor));
}

export interface PpoLossInput {
  /** Log-probs and values at rollout time (the old policy). */
  oldLogprobs: Rows;
  oldValues: Rows;
  /** The current policy's log-probs and value predictions for the same tokens. */
  logprobs: Rows;
  values: Rows;
  advantages: Rows;
  returns: Rows;
}

export interface PpoLossOptions {
  cliprange: number;
  cliprangeValue: number;
  vfCoef: number;
  ratioThreshold: number;
}

export interface PpoLoss {
  /** policy + vfCoef * value (0 when the mini-batch was skipped for its ratio). */
  loss: number;
  policyLoss: number;
  /** 0.5 * mean of the clipped squared error, before vfCoef. */
  valueLoss: number;
  /** d loss / d logprobs and d loss / d values, per token. */
  gradLogprobs: Float64Array[];
  gradValues: Float64Array[];
  policyClipfrac: number;
  valueClipfrac: number;
  approxKl: number;
  ratioMean: number;
  /** The mean ratio exceeded ratioThreshold: loss and gradients are zero (TRL warns and multiplies by 0). */
  skipped: boolean;
}

/**
 * TRL's loss(): the clipped surrogate objective and the clipped value loss, each a mean over the mini-batch's response
 * tokens, with their exact gradients (where torch.max picks neither side, at a tie, it splits the gradient in half).
 * `totalTokens`: the token count the means divide by; a rank's share of a global mini-batch passes the global count
 * (ppo-ranks.ts), so the ranks' losses and gradients add up to the global mini-batch's.
 */
export function ppoLoss(x: PpoLossInput, o: PpoLossOptions, totalTokens = tokenCount(x.logprobs)): PpoLoss {
  const n = totalTokens;
  if (n === 0) throw new Error('ppoLoss: no response tokens');
  let pg = 0;
  let vf = 0;
  let pgClip = 0;
  let vfClip = 0;
  let ratioSum = 0;
  let approx = 0;
  const gradLogprobs: Float64Array[] = [];
  const gradValues: Float64Array[] = [];
  const lo = 1 - o.cliprange;
  const hi = 1 + o.cliprange;
  x.logprobs.forEach((lp, i) => {
    const old = x.oldLogprobs[i] as ArrayLike<number>;
    const oldV = x.oldValues[i] as ArrayLike<number>;
    const v = x.values[i] as ArrayLike<number>;
    const adv = x.advantages[i] as ArrayLike<number>;
    const ret = x.returns[i] as ArrayLike<number>;
    const gl = new Float64Array(lp.length);
    const gv = new Float64Array(lp.length);
    for (let t = 0; t < lp.length; t++) {
      const diff = (lp[t] as number) - (old[t] as number);
      const ratio = Math.exp(diff);
      const a = adv[t] as number;
      const clipped = Math.min(Math.max(ratio, lo), hi);
      const l1 = -a * ratio;
      const l2 = -a * clipped;
      pg += Math.max(l1, l2);
      if (l2 > l1) pgClip++;
      // d/dlogp of -a * ratio is -a * ratio; through the clamp it is that inside [lo, hi] and 0 outside.
      const inRange = ratio >= lo && ratio <= hi;
      const d1 = -a * ratio;
      const d2 = inRange ? d1 : 0;
      gl[t] = (l1 > l2 ? d1 : l2 > l1 ? d2 : 0.5 * (d1 + d2)) / n;
      ratioSum += ratio;
      approx += diff * diff;

      const vp = v[t] as number;
      const r = ret[t] as number;
      const vLo = (oldV[t] as number) - o.cliprangeValue;
      const vHi = (oldV[t] as number) + o.cliprangeValue;
      const vClipped = Math.min(Math.max(vp, vLo), vHi);
      const e1 = (vp - r) ** 2;
      const e2 = (vClipped - r) ** 2;
      vf += Math.max(e1, e2);
      if (e2 > e1) vfClip++;
      const dv1 = 2 * (vp - r);
      const dv2 = vp >= vLo && vp <= vHi ? 2 * (vClipped - r) : 0;
      // loss = pg + vfCoef * 0.5 * mean(max(e1, e2))
      gv[t] = (0.5 * o.vfCoef * (e1 > e2 ? dv1 : e2 > e1 ? dv2 : 0.5 * (dv1 + dv2))) / n;
    }
    gradLogprobs.push(gl);
    gradValues.push(gv);
  });
  const policyLoss = pg / n;
  const valueLoss = (0.5 * vf) / n;
  const ratioMean = ratioSum / n;
  const skipped = ratioMean > o.ratioThreshold;
  if (skipped) for (const g of [...gradLogprobs, ...gradValues]) g.fill(0);
  return {
    loss: skipped ? 0 : policyLoss + o.vfCoef * valueLoss,
    policyLoss: skipped ? 0 : policyLoss,
    valueLoss: skipped ? 0 : valueLoss,
    gradLogprobs,
    gradValues,
    policyClipfrac: pgClip / n,
    valueClipfrac: vfClip / n,
    approxKl: (0.5 * approx) / n,
    ratioMean,
    skipped,
  };
}
