/**
 * The preference losses against values computed by hand in float64 for fixed log-probs, and their gradients
 * w.r.t. the policy log-probs against finite differences of the same float64 formulas.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scope, sumAll, Tensor } from '../../src/engine/index.js';
import {
  ktoKl,
  ktoLoss,
  type PreferenceLossType,
  preferenceLosses,
  preferenceMetrics,
  preferenceRewards,
} from '../../src/train/preference-loss.js';
import { assertClose } from '../util/assert.js';
import { fdGradient } from '../util/gradcheck.js';

const logSig = (x: number) => -Math.log1p(Math.exp(-x));
const sig = (x: number) => 1 / (1 + Math.exp(-x));
// sequence log-probs of 3 pairs (averaged ones must be < 0 for orpo: log p of a probability)
const PC = [-12.5, -3.25, -0.75];
const PR = [-14, -2.5, -1.5];
const RC = [-13, -3, -1];
const RR = [-13.5, -3, -1.25];
const BETA = 0.1;

/** Hand-written float64 per-pair losses. */
function byHand(type: PreferenceLossType, pc: number[], pr: number[], ls = 0, gamma = 0.5): number[] {
  return pc.map((c, i) => {
    const r = pr[i] as number;
    const logits = c - r - ((RC[i] as number) - (RR[i] as number));
    switch (type) {
      case 'sigmoid':
        return -(1 - ls) * logSig(BETA * logits) - ls * logSig(-BETA * logits);
      case 'hinge':
        return Math.max(0, 1 - BETA * logits);
      case 'ipo':
        return (logits - 1 / (2 * BETA)) ** 2;
      case 'orpo': {
        const logOdds = c - r - (Math.log(1 - Math.exp(c)) - Math.log(1 - Math.exp(r)));
        return -c - BETA * logSig(logOdds);
      }
      default:
        return -logSig(BETA * (c - r - gamma / BETA)); // simpo
    }
  });
}

const CASES: [PreferenceLossType, number][] = [
  ['sigmoid', 0],
  ['sigmoid', 0.2],
  ['hinge', 0],
  ['ipo', 0],
  ['orpo', 0],
  ['simpo', 0],
];

test('DPO-family losses equal the hand-computed float64 values, and so do their gradients', () => {
  for (const [type, ls] of CASES) {
    const cfg = { type, beta: BETA, labelSmoothing: ls, simpoGamma: 0.5 };
    scope(() => {
      const chosen = Tensor.from(PC, [3]).requiresGrad_();
      const rejected = Tensor.from(PR, [3]).requiresGrad_();
      const ref = { chosen: Tensor.from(RC, [3]), rejected: Tensor.from(RR, [3]) };
      const losses = preferenceLosses(cfg, { chosen, rejected }, ref);
      assertClose(losses.toFloat32Array(), byHand(type, PC, PR, ls), { atol: 1e-5, rtol: 1e-5 }, `${type} ${ls}`);
      sumAll(losses).backward();
      const total = (c: number[], r: number[]) => byHand(type, c, r, ls).reduce((a, b) => a + b, 0);
      const dc = fdGradient((x) => total([...x], PR), Float64Array.from(PC));
      const dr = fdGradient((x) => total(PC, [...x]), Float64Array.from(PR));
      assertClose(chosen.grad?.toFloat32Array() ?? [], dc, { atol: 1e-5, rtol: 1e-4 }, `${type} d/dchosen`);
      assertClose(rejected.grad?.toFloat32Array() ?? [], dr, { atol: 1e-5, rtol: 1e-4 }, `${type} d/drejected`);
      chosen.grad?.dispose();
      rejected.grad?.dispose();
    });
  }
});

test('a reference-model loss without reference log-probs is refused', () => {
  scope(() => {
    const p = { chosen: Tensor.from(PC, [3]), rejected: Tensor.from(PR, [3]) };
    assert.throws(
      () => preferenceLosses({ type: 'sigmoid', beta: 0.1, labelSmoothing: 0, simpoGamma: 0 }, p),
      /needs reference log-probs/,
    );
  });
});

test('rewards and metrics: beta * (policy - reference), accuracy counts strict wins', () => {
  const rewards = preferenceRewards(BETA, { chosen: PC, rejected: PR }, { chosen: RC, rejected: RR });
  assertClose(rewards.chosen, [0.05, -0.025, 0.025], { atol: 1e-12 }, 'chosen');
  assertClose(rewards.rejected, [-0.05, 0.05, -0.025], { atol: 1e-12 }, 'rejected');
  const m = preferenceMetrics({
    chosenRewards: rewards.chosen,
    rejectedRewards: rewards.rejected,
    chosenLogps: PC,
    rejectedLogps: PR,
    chosenLogitsMean: 0.5,
    rejectedLogitsMean: -0.5,
  });
  assert.ok(Math.abs((m['rewards/accuracies'] as number) - 2 / 3) < 1e-12);
  assert.ok(Math.abs((m['rewards/margins'] as number) - (0.1 - 0.075 + 0.05) / 3) < 1e-12);
  assert.ok(Math.abs((m['logps/chosen'] as number) - -5.5) < 1e-12);
  const free = preferenceRewards(BETA, { chosen: PC, rejected: PR });
  assertClose(free.chosen, [-1.25, -0.325, -0.075], { atol: 1e-12 }, 'reference-free');
});

test('KTO: KL from mismatched pairs is clamped at 0; the loss and its gradient equal the hand formula', () => {
  assert.equal(ktoKl([-3, -5], [-4, -3]), 0); // mean(1, -2) < 0
  assert.equal(ktoKl([-3, -2], [-4, -4]), 1.5);
  const kl = 0.4;
  const cfg = { beta: 0.5, chosenWeight: 1.5, rejectedWeight: 0.75 };
  const pc = [-4, -6];
  const rc = [-5, -5.5];
  const pr = [-7];
  const rr = [-6.5];
  const hand = (c: number[], r: number[]) => {
    const lc = c.map((v, i) => cfg.chosenWeight * (1 - sig(cfg.beta * (v - (rc[i] as number) - kl))));
    const lr = r.map((v, i) => cfg.rejectedWeight * (1 - sig(cfg.beta * (kl - (v - (rr[i] as number))))));
    return [...lc, ...lr].reduce((a, b) => a + b, 0) / 3;
  };
  scope(() => {
    const c = Tensor.from(pc, [2]).requiresGrad_();
    const r = Tensor.from(pr, [1]).requiresGrad_();
    const loss = ktoLoss(
      cfg,
      kl,
      { policy: c, reference: Tensor.from(rc, [2]) },
      { policy: r, reference: Tensor.from(rr, [1]) },
    );
    assert.ok(Math.abs(loss.item() - hand(pc, pr)) < 1e-6, `${loss.item()} vs ${hand(pc, pr)}`);
    loss.backward();
    assertClose(
      c.grad?.toFloat32Array() ?? [],
      fdGradient((x) => hand([...x], pr), Float64Array.from(pc)),
      {
        atol: 1e-6,
      },
    );
    assertClose(
      r.grad?.toFloat32Array() ?? [],
      fdGradient((x) => hand(pc, [...x]), Float64Array.from(pr)),
      {
        atol: 1e-6,
      },
    );
    c.grad?.dispose();
    r.grad?.dispose();
    // only undesirable rows in the batch
    const onlyRejected = ktoLoss(cfg, kl, null, { policy: Tensor.from(pr, [1]), reference: Tensor.from(rr, [1]) });
    assert.ok(Math.abs(onlyRejected.item() - 0.75 * (1 - sig(0.5 * (kl + 0.5)))) < 1e-6);
  });
});
