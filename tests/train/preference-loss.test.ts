/**
 * The preference losses against values computed by hand in float64 for fixed log-probs, and their gradients
 * w.r.t. the policy log-probs against finite differences of the same float64 formulas (kto_pair and BCO included).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scope, sumAll, Tensor } from '../../src/engine/index.js';
import {
  bcoLosses,
  ktoKl,
  ktoLoss,
  meanReward,
  type PreferenceLossType,
  preferenceLosses,
  preferenceMetrics,
  preferenceRewards,
  RunningMean,
  withBco,
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

/** TRL's kto_pair in float64 as TRL writes it: 2B row losses (desirable then undesirable), averaged. */
function ktoPairByHand(pc: number[], pr: number[], beta: number): number {
  const c = pc.map((v, i) => v - (RC[i] as number));
  const r = pr.map((v, i) => v - (RR[i] as number));
  const mean = (x: number[]) => x.reduce((a, b) => a + b, 0) / x.length;
  const klChosen = Math.max(mean(c), 0);
  const klRejected = Math.max(mean(r), 0);
  const rows = [...c.map((v) => 1 - sig(beta * (v - klRejected))), ...r.map((v) => 1 - sig(beta * (klChosen - v)))];
  return mean(rows);
}

test('kto_pair: the mean loss and its gradient (through the batch KL estimates) equal TRL formula in float64', () => {
  const beta = 0.5;
  // chosen ratios mean +1/6 (KL_chosen is live), rejected ratios mean -1/12 (KL_rejected clamped to 0)
  const cases: [number[], number[]][] = [
    [PC, PR],
    [
      [-12, -2.5, -0.5],
      [-13, -2.75, -0.5],
    ],
  ];
  for (const [pc, pr] of cases) {
    scope(() => {
      const chosen = Tensor.from(pc, [3]).requiresGrad_();
      const rejected = Tensor.from(pr, [3]).requiresGrad_();
      const ref = { chosen: Tensor.from(RC, [3]), rejected: Tensor.from(RR, [3]) };
      const losses = preferenceLosses(
        { type: 'kto_pair', beta, labelSmoothing: 0, simpoGamma: 0 },
        { chosen, rejected },
        ref,
      );
      assert.deepEqual(losses.shape, [3]);
      const mean = sumAll(losses).item() / 3;
      assert.ok(Math.abs(mean - ktoPairByHand(pc, pr, beta)) < 1e-6, `${mean} vs ${ktoPairByHand(pc, pr, beta)}`);
      sumAll(losses).backward();
      // sum of the per-pair values = 3 * the mean over 2B rows
      const dc = fdGradient((x) => 3 * ktoPairByHand([...x], pr, beta), Float64Array.from(pc));
      const dr = fdGradient((x) => 3 * ktoPairByHand(pc, [...x], beta), Float64Array.from(pr));
      assertClose(chosen.grad?.toFloat32Array() ?? [], dc, { atol: 1e-6, rtol: 1e-4 }, 'kto_pair d/dchosen');
      assertClose(rejected.grad?.toFloat32Array() ?? [], dr, { atol: 1e-6, rtol: 1e-4 }, 'kto_pair d/drejected');
      chosen.grad?.dispose();
      rejected.grad?.dispose();
    });
  }
  // policy == reference: every row is 1 - sigmoid(0)
  scope(() => {
    const same = { chosen: Tensor.from(RC, [3]), rejected: Tensor.from(RR, [3]) };
    const losses = preferenceLosses({ type: 'kto_pair', beta, labelSmoothing: 0, simpoGamma: 0 }, same, same);
    assertClose(losses.toFloat32Array(), [0.5, 0.5, 0.5], { atol: 1e-7 });
  });
});

test('RunningMean follows TRL RunningMoments: first update sets the mean, later ones average by count', () => {
  const m = new RunningMean();
  assert.equal(m.update([0.3]), 0.3);
  assert.ok(Math.abs(m.update([-0.1]) - 0.1) < 1e-15);
  assert.ok(Math.abs(m.update([0.4]) - 0.2) < 1e-15);
  const batch = new RunningMean();
  assert.equal(batch.update([1, 2, 3]), 2);
  assert.equal(batch.update([5]), 2.75); // 2 + (5 - 2) * 1 / 4
  assert.throws(() => batch.update([]), /no values/);
  const rewards = preferenceRewards(BETA, { chosen: PC, rejected: PR }, { chosen: RC, rejected: RR });
  assert.ok(Math.abs(meanReward(rewards) - 0.025 / 6) < 1e-15);
});

test('BCO: -logsigmoid(beta c - delta) - logsigmoid(delta - beta r), re-weighted with the sigmoid loss', () => {
  const beta = 0.5;
  const delta = 0.07;
  const w = 0.4;
  const byHandBco = (pc: number[], pr: number[]) =>
    pc.map((c, i) => {
      const rc = beta * (c - (RC[i] as number));
      const rr = beta * ((pr[i] as number) - (RR[i] as number));
      return -logSig(rc - delta) - logSig(-(rr - delta));
    });
  const combined = (pc: number[], pr: number[]) => {
    const bco = byHandBco(pc, pr);
    return pc.map((c, i) => {
      const logits = c - (pr[i] as number) - ((RC[i] as number) - (RR[i] as number));
      return (-logSig(beta * logits) + w * (bco[i] as number)) / (1 + w);
    });
  };
  scope(() => {
    const chosen = Tensor.from(PC, [3]).requiresGrad_();
    const rejected = Tensor.from(PR, [3]).requiresGrad_();
    const ref = { chosen: Tensor.from(RC, [3]), rejected: Tensor.from(RR, [3]) };
    const bco = bcoLosses(beta, delta, { chosen, rejected }, ref);
    assertClose(bco.toFloat32Array(), byHandBco(PC, PR), { atol: 1e-6 }, 'bco');
    const dpo = preferenceLosses(
      { type: 'sigmoid', beta, labelSmoothing: 0, simpoGamma: 0 },
      { chosen, rejected },
      ref,
    );
    const losses = withBco(dpo, bco, w);
    assertClose(losses.toFloat32Array(), combined(PC, PR), { atol: 1e-6 }, 'combined');
    sumAll(losses).backward();
    // delta is a constant of the objective (TRL's running mean is updated without a tape)
    const total = (c: number[], r: number[]) => combined(c, r).reduce((a, b) => a + b, 0);
    const dc = fdGradient((x) => total([...x], PR), Float64Array.from(PC));
    const dr = fdGradient((x) => total(PC, [...x]), Float64Array.from(PR));
    assertClose(chosen.grad?.toFloat32Array() ?? [], dc, { atol: 1e-6, rtol: 1e-4 }, 'bco d/dchosen');
    assertClose(rejected.grad?.toFloat32Array() ?? [], dr, { atol: 1e-6, rtol: 1e-4 }, 'bco d/drejected');
    chosen.grad?.dispose();
    rejected.grad?.dispose();
  });
});
