import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addScalar,
  exp,
  log1mExp,
  logSigmoid,
  mul,
  relu,
  scope,
  sigmoid,
  sub,
  sumLastDim,
  Tensor,
  takeRows,
  tanh,
} from '../../src/engine/index.js';
import { POINTWISE_REF } from '../../src/engine/reference/pointwise.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { assertGradient, dot } from '../util/gradcheck.js';
import { Rng } from '../util/random.js';

const OPS = { logSigmoid, sigmoid, relu, exp, log1mExp, tanh } as const;

/** Inputs in each function's domain, including large magnitudes where naive formulas overflow. */
function inputs(name: keyof typeof OPS, n: number, rng: Rng): Float64Array {
  const x = Float64Array.from(rng.floats(n).f32, (v) => v * 8);
  if (name === 'log1mExp') return x.map((v) => -Math.abs(v) - 1e-3);
  if (name === 'logSigmoid' || name === 'sigmoid') x.set([-120, -30, 0, 30, 120].slice(0, n));
  return x;
}

test('pointwise ops: native forward and backward match the float64 reference', () => {
  const rng = new Rng(11);
  for (const [name, op] of Object.entries(OPS) as [keyof typeof OPS, (typeof OPS)[keyof typeof OPS]][]) {
    for (const n of [1, 7, 333]) {
      const x64 = inputs(name, n, rng);
      const g = rng.floats(n);
      const ref = POINTWISE_REF[name];
      scope(() => {
        const x = Tensor.from(Float32Array.from(x64), [n]).requiresGrad_();
        const y = op(x);
        const xf = Float64Array.from(Float32Array.from(x64));
        assertClose(y.toFloat32Array(), xf.map(ref.f), { atol: 1e-6, rtol: 1e-6 }, `${name} forward n=${n}`);
        y.backward(Tensor.from(g.f32, [n]));
        const expected = xf.map((v, i) => (g.f32[i] as number) * ref.df(v));
        assertClose(x.grad?.toFloat32Array() ?? [], expected, { atol: 1e-6, rtol: 1e-6 }, `${name} backward n=${n}`);
        x.grad?.dispose();
      });
    }
  }
});

test('pointwise references: derivatives match finite differences', () => {
  const rng = new Rng(12);
  for (const name of Object.keys(OPS) as (keyof typeof OPS)[]) {
    // moderate points (away from relu's kink and log1mExp's pole) where the difference quotient is accurate
    const x = inputs(name, 9, rng).map((v) => Math.max(-6, Math.min(name === 'log1mExp' ? -1e-2 : 6, v)));
    if (name === 'relu') for (let i = 0; i < x.length; i++) if (Math.abs(x[i] as number) < 1e-2) x[i] = 0.5;
    const w = rng.floats(9).f64;
    const ref = POINTWISE_REF[name];
    const analytic = x.map((v, i) => ref.df(v) * (w[i] as number));
    assertGradient((v) => dot(v.map(ref.f), w), x, analytic, { atol: 1e-6, rtol: 1e-5 }, name);
  }
});

test('logSigmoid and sigmoid stay finite and exact far from 0', () => {
  scope(() => {
    const x = Tensor.from([-200, 200], [2]);
    assert.deepEqual([...logSigmoid(x).toFloat32Array()], [-200, -0]);
    assert.deepEqual([...sigmoid(x).toFloat32Array()], [0, 1]);
  });
});

test('row helpers: sub, addScalar, sumLastDim and takeRows with their gradients', () => {
  scope(() => {
    const x = Tensor.from([1, 2, 3, 4, 5, 6], [3, 2]).requiresGrad_();
    assert.deepEqual([...sumLastDim(x).toFloat32Array()], [3, 7, 11]);
    const picked = takeRows(x, [2, 0]);
    assert.deepEqual(picked.shape, [2, 2]);
    assert.deepEqual([...picked.toFloat32Array()], [5, 6, 1, 2]);
    const y = sumLastDim(mul(addScalar(sub(picked, takeRows(x, [1, 1])), 0.5), Tensor.from([1, 2, 3, 4], [2, 2])));
    y.backward(Tensor.from([1, 1], [2]));
    // d/dx: row 2 gets [1, 2], row 0 gets [3, 4], row 1 gets -([1, 2] + [3, 4])
    assert.deepEqual([...(x.grad?.toFloat32Array() ?? [])], [3, 4, -4, -6, 1, 2]);
    x.grad?.dispose();
    assert.throws(() => takeRows(x, [3]), /outside \[0, 3\)/);
  });
});

test('pointwise: 1 thread and N threads agree', () => {
  const rng = new Rng(13);
  const n = 40_000;
  const a = rng.floats(n).f32;
  const run = () => scope(() => logSigmoid(Tensor.from(a, [n])).toFloat32Array());
  assert.deepEqual(withThreads(1, run), withThreads(4, run));
});
