/**
 * TRL 0.9's PPO arithmetic (src/train/ppo-math.ts) against hand computations and independent float64 formulas, and
 * the PPO loss's gradient against finite differences.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AdaptiveKLController,
  computeAdvantages,
  gae,
  klPenaltyRewards,
  maskedMean,
  maskedVar,
  PPO_DEFAULTS,
  type PpoLossInput,
  ppoLoss,
  RunningMoments,
  scaleScores,
  whiten,
} from '../../src/train/ppo-math.js';
import { assertClose } from '../util/assert.js';
import { fdGradient } from '../util/gradcheck.js';

const rows = (...xs: number[][]) => xs.map((x) => Float64Array.from(x));
const flat = (rs: readonly ArrayLike<number>[]) => rs.flatMap((r) => Array.from(r));

test('masked mean, unbiased variance and whitening pool every token of every row', () => {
  const x = rows([1, 2], [3, 4, 10]);
  assert.equal(maskedMean(x), 4);
  // deviations -3 -2 -1 0 6: squares sum 50, / 5 = 10, Bessel * 5/4 = 12.5
  assert.equal(maskedVar(x, false), 10);
  assert.equal(maskedVar(x), 12.5);
  const w = whiten(x);
  assertClose(
    flat(w),
    [-3, -2, -1, 0, 6].map((d) => d / Math.sqrt(12.5 + 1e-8)),
    { atol: 1e-15, rtol: 1e-15 },
  );
  // shift_mean false keeps the mean
  assertClose(
    flat(whiten(x, false)),
    flat(w).map((v) => v + 4),
    { atol: 1e-15, rtol: 1e-15 },
  );
  assert.throws(() => maskedVar(rows([1])), /two response tokens/);
});

test('KL-penalty rewards: -coef * (logp - ref) per token, the score added on the last token', () => {
  const r = klPenaltyRewards([2, -1], rows([-1, -2], [-0.5]), rows([-1.5, -1], [-0.25]), 0.2);
  assertClose(flat(r.nonScore), [-0.1, 0.2, 0.05], { atol: 1e-15, rtol: 0 });
  assertClose(flat(r.rewards), [-0.1, 2.2, -0.95], { atol: 1e-15, rtol: 0 });
  assertClose(r.kl, [0.5 - 1, -0.25], { atol: 1e-15, rtol: 0 });
});

test('GAE equals the discounted sum of TD residuals, the value after the last token being 0', () => {
  const values = rows([0.5, -0.2, 0.1, 0.3], [1.0, 0.4]);
  const rewards = rows([0.1, 0, -0.3, 1.2], [-0.5, 2.0]);
  const gamma = 0.9;
  const lam = 0.8;
  const { advantages, returns } = gae(values, rewards, gamma, lam);
  values.forEach((v, i) => {
    const r = rewards[i] as Float64Array;
    const n = v.length;
    const delta = Array.from(
      v,
      (_, t) => (r[t] as number) + gamma * (t + 1 < n ? (v[t + 1] as number) : 0) - (v[t] as number),
    );
    const expected = delta.map((_, t) => delta.slice(t).reduce((s, d, l) => s + (gamma * lam) ** l * d, 0));
    assertClose(advantages[i] as Float64Array, expected, { atol: 1e-14, rtol: 0 }, `advantages row ${i}`);
    assertClose(
      returns[i] as Float64Array,
      expected.map((a, t) => a + (v[t] as number)),
      { atol: 1e-14, rtol: 0 },
    );
  });
  // with gamma = 1, lam = 1 the return is the sum of the rewards still to come
  const mc = gae(values, rewards, 1, 1);
  assertClose(mc.returns[0] as Float64Array, [1.0, 0.9, 0.9, 1.2], { atol: 1e-14, rtol: 0 });
});

test('compute_advantages whitens the advantages (not the returns); whiten_rewards keeps the rewards mean', () => {
  const values = rows([0.5, -0.2, 0.1], [1.0, 0.4]);
  const rewards = rows([0.1, 0, -0.3], [-0.5, 2.0]);
  const o = { gamma: 1, lam: 0.95, whitenRewards: false };
  const { advantages, returns } = computeAdvantages(values, rewards, o);
  const raw = gae(values, rewards, 1, 0.95);
  assertClose(flat(returns), flat(raw.returns), { atol: 0, rtol: 0 });
  assert.ok(Math.abs(maskedMean(advantages)) < 1e-12);
  assert.ok(Math.abs(maskedVar(advantages) - 1) < 1e-6);
  const w = computeAdvantages(values, rewards, { ...o, whitenRewards: true });
  const rw = gae(values, whiten(rewards, false), 1, 0.95);
  assertClose(flat(w.returns), flat(rw.returns), { atol: 1e-14, rtol: 0 });
});

test('adaptive KL controller: proportional error clipped to +-0.2, scaled by n / horizon', () => {
  const c = new AdaptiveKLController(0.2, 6, 10000);
  c.update(7.5, 64); // error 0.25 -> 0.2
  assert.ok(Math.abs(c.value - 0.2 * (1 + (0.2 * 64) / 10000)) < 1e-15);
  const v = c.value;
  c.update(4.5, 100); // error -0.25 -> -0.2
  assert.ok(Math.abs(c.value - v * (1 - (0.2 * 100) / 10000)) < 1e-15);
  const w = c.value;
  c.update(6.6, 10); // error 0.1
  assert.ok(Math.abs(c.value - w * (1 + (0.1 * 10) / 10000)) < 1e-15);
});

test('running moments equal the mean and unbiased std of every score seen; score norm uses them', () => {
  const batches = [
    [1, 2, 3, 4],
    [10, -2],
    [0.5, 0.25, 7],
  ];
  const m = new RunningMoments();
  const seen: number[] = [];
  for (const b of batches) {
    const own = m.update(b);
    const bm = b.reduce((a, x) => a + x, 0) / b.length;
    assert.ok(Math.abs(own.mean - bm) < 1e-12);
    seen.push(...b);
    const mean = seen.reduce((a, x) => a + x, 0) / seen.length;
    const std = Math.sqrt(seen.reduce((a, x) => a + (x - mean) ** 2, 0) / (seen.length - 1));
    assert.ok(Math.abs(m.mean - mean) < 1e-9, `mean ${m.mean} vs ${mean}`);
    assert.ok(Math.abs(m.std - std) < 1e-9, `std ${m.std} vs ${std}`);
  }
  const n = new RunningMoments();
  const scaled = scaleScores([1, 3], n, true);
  const std = Math.SQRT2; // unbiased std of [1, 3]
  assertClose(scaled, [(1 - 2) / (std + 1.1920928955078125e-7), (3 - 2) / (std + 1.1920928955078125e-7)], {
    atol: 1e-9,
    rtol: 0,
  });
  const s = new RunningMoments();
  assertClose(scaleScores([1, 3], s, false), [1 / (std + 1.1920928955078125e-7), 3 / (std + 1.1920928955078125e-7)], {
    atol: 1e-9,
    rtol: 0,
  });
});

/** Fixed inputs: some ratios inside the clip range, some clipped on either side; some values clipped. */
function lossInput(): PpoLossInput {
  return {
    oldLogprobs: rows([-1.0, -2.0, -0.5], [-1.2, -0.7]),
    oldValues: rows([0.3, -0.1, 0.6], [0.0, 0.9]),
    logprobs: rows([-0.9, -2.5, -0.2], [-1.25, -0.3]),
    values: rows([0.35, 0.4, 0.2], [-0.05, 1.3]),
    advantages: rows([1.0, -0.7, 0.4], [-1.2, 0.8]),
    returns: rows([0.5, 0.2, -0.3], [0.1, 0.7]),
  };
}

test('PPO loss: clipped surrogate and clipped value loss by hand', () => {
  const x = lossInput();
  const r = ppoLoss(x, PPO_DEFAULTS);
  let pg = 0;
  let vf = 0;
  const lp = flat(x.logprobs);
  const old = flat(x.oldLogprobs);
  const a = flat(x.advantages);
  const v = flat(x.values);
  const ov = flat(x.oldValues);
  const ret = flat(x.returns);
  for (let i = 0; i < lp.length; i++) {
    const ratio = Math.exp((lp[i] as number) - (old[i] as number));
    const clipped = Math.min(Math.max(ratio, 0.8), 1.2);
    pg += Math.max(-(a[i] as number) * ratio, -(a[i] as number) * clipped);
    const vc = Math.min(Math.max(v[i] as number, (ov[i] as number) - 0.2), (ov[i] as number) + 0.2);
    vf += Math.max(((v[i] as number) - (ret[i] as number)) ** 2, (vc - (ret[i] as number)) ** 2);
  }
  assert.ok(Math.abs(r.policyLoss - pg / 5) < 1e-15);
  assert.ok(Math.abs(r.valueLoss - (0.5 * vf) / 5) < 1e-15);
  assert.ok(Math.abs(r.loss - (pg / 5 + 0.1 * ((0.5 * vf) / 5))) < 1e-15);
  // clipped: ratio e^-0.5 with advantage -0.7, e^0.3 with 0.4, e^0.4 with 0.8 (the clipped term is the larger)
  assert.equal(r.policyClipfrac, 3 / 5);
  assert.ok(!r.skipped);
});

test('PPO loss gradient w.r.t. log-probs and values matches central finite differences', () => {
  const x = lossInput();
  const r = ppoLoss(x, PPO_DEFAULTS);
  const shape = x.logprobs.map((row) => row.length);
  const unflat = (v: Float64Array) => {
    let o = 0;
    return shape.map((n) => {
      const out = v.slice(o, o + n);
      o += n;
      return out;
    });
  };
  const fLogprobs = (v: Float64Array) => ppoLoss({ ...x, logprobs: unflat(v) }, PPO_DEFAULTS).loss;
  const fValues = (v: Float64Array) => ppoLoss({ ...x, values: unflat(v) }, PPO_DEFAULTS).loss;
  const gl = fdGradient(fLogprobs, Float64Array.from(flat(x.logprobs)));
  const gv = fdGradient(fValues, Float64Array.from(flat(x.values)));
  assertClose(flat(r.gradLogprobs), gl, { atol: 1e-9, rtol: 1e-6 }, 'd loss / d logprobs');
  assertClose(flat(r.gradValues), gv, { atol: 1e-9, rtol: 1e-6 }, 'd loss / d values');
  // the clipped tokens get no policy gradient, the others do
  assert.equal(r.gradLogprobs[0]?.[1], 0);
  assert.equal(r.gradLogprobs[0]?.[2], 0);
  assert.equal(r.gradLogprobs[1]?.[1], 0);
  assert.notEqual(r.gradLogprobs[0]?.[0], 0);
});

test('PPO loss: a mini-batch whose mean ratio exceeds ratio_threshold contributes nothing', () => {
  const x = lossInput();
  const r = ppoLoss({ ...x, logprobs: rows([3, 3, 3], [3, 3]) }, PPO_DEFAULTS);
  assert.ok(r.ratioMean > 10);
  assert.ok(r.skipped);
  assert.equal(r.loss, 0);
  assert.ok([...flat(r.gradLogprobs), ...flat(r.gradValues)].every((g) => g === 0));
});
