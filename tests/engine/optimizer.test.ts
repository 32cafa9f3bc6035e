import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AdamWHyper, adamwStep_, type SgdHyper, scope, sgdStep_, Tensor } from '../../src/engine/index.js';
import { adamwStepRef, sgdStepRef } from '../../src/engine/reference/optimizer.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { Rng } from '../util/random.js';

const ADAMW: AdamWHyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

test('adamwStep_ matches the float64 reference over several steps, odd and round shapes', () => {
  const rng = new Rng(11);
  for (const shape of [[1], [1237], [64, 64]]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const p0 = rng.floats(n);
    const ref = { p: Float64Array.from(p0.f64), m: new Float64Array(n), v: new Float64Array(n) };
    scope(() => {
      const p = Tensor.from(p0.f32, shape);
      const m = Tensor.zeros(shape);
      const v = Tensor.zeros(shape);
      for (let step = 1; step <= 5; step++) {
        const g = rng.floats(n, -2, 2);
        adamwStep_(p, Tensor.from(g.f32, shape), m, v, ADAMW, step);
        adamwStepRef(ref.p, g.f64, ref.m, ref.v, ADAMW, step);
      }
      assertClose(p.toFloat32Array(), ref.p, { atol: 1e-6, rtol: 1e-6 }, `param ${shape}`);
      assertClose(m.toFloat32Array(), ref.m, { atol: 1e-7, rtol: 1e-5 }, `exp_avg ${shape}`);
      assertClose(v.toFloat32Array(), ref.v, { atol: 1e-9, rtol: 1e-5 }, `exp_avg_sq ${shape}`);
    });
  }
});

test('adamwStep_ decays weights even where the gradient is zero, and rejects step 0', () => {
  scope(() => {
    const p = Tensor.from([2, -4], [2]);
    adamwStep_(p, Tensor.zeros([2]), Tensor.zeros([2]), Tensor.zeros([2]), ADAMW, 1);
    // m = v = 0: only the decoupled decay moves p, by the factor 1 - lr * wd
    assertClose(p.toFloat32Array(), [2 * (1 - 1e-3), -4 * (1 - 1e-3)], { atol: 0, rtol: 1e-7 });
    assert.throws(() => adamwStep_(p, p, p, p, ADAMW, 0), /step must be an integer >= 1/);
    assert.throws(() => adamwStep_(p, Tensor.zeros([3]), p, p, ADAMW, 1), /shapes differ/);
  });
});

const SGD_CASES: SgdHyper[] = [
  { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
  { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0.05, nesterov: false },
  { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false },
  { lr: 0.05, momentum: 0.9, dampening: 0.3, weightDecay: 0.01, nesterov: false },
  { lr: 0.05, momentum: 0.8, dampening: 0, weightDecay: 0.01, nesterov: true },
];

test('sgdStep_ matches the float64 reference for plain, decayed, momentum, dampened and Nesterov SGD', () => {
  const rng = new Rng(12);
  const n = 517;
  for (const h of SGD_CASES) {
    const p0 = rng.floats(n);
    const ref = { p: Float64Array.from(p0.f64), buf: new Float64Array(n) };
    scope(() => {
      const p = Tensor.from(p0.f32, [n]);
      const buf = Tensor.zeros([n]);
      for (let step = 1; step <= 4; step++) {
        const g = rng.floats(n);
        sgdStep_(p, Tensor.from(g.f32, [n]), h.momentum ? buf : null, h, step === 1);
        sgdStepRef(ref.p, g.f64, ref.buf, h, step === 1);
      }
      assertClose(p.toFloat32Array(), ref.p, { atol: 1e-6, rtol: 1e-6 }, `param ${JSON.stringify(h)}`);
      if (h.momentum) assertClose(buf.toFloat32Array(), ref.buf, { atol: 1e-6, rtol: 1e-6 }, 'momentum buffer');
    });
  }
  assert.throws(
    () => scope(() => sgdStep_(Tensor.zeros([1]), Tensor.zeros([1]), null, SGD_CASES[2] as SgdHyper, true)),
    /needs a momentum buffer/,
  );
});

test('optimizer kernels: 1 thread and N threads agree bit for bit', () => {
  const rng = new Rng(13);
  const n = 200_003;
  const p0 = rng.floats(n);
  const g = rng.floats(n);
  const run = () =>
    scope(() => {
      const p = Tensor.from(p0.f32, [n]);
      const m = Tensor.zeros([n]);
      const v = Tensor.zeros([n]);
      const gt = Tensor.from(g.f32, [n]);
      adamwStep_(p, gt, m, v, ADAMW, 1);
      adamwStep_(p, gt, m, v, ADAMW, 2);
      sgdStep_(p, gt, m, SGD_CASES[4] as SgdHyper, false);
      return p.toFloat32Array();
    });
  assert.deepEqual(withThreads(1, run), withThreads(4, run));
});
