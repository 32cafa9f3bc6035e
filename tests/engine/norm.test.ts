import assert from 'node:assert/strict';
import { test } from 'node:test';
import { liveBytes, rmsNorm, scope, Tensor } from '../../src/engine/index.js';
import { rmsNormBackwardRef, rmsNormRef } from '../../src/engine/reference/norm.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { assertGradient, dot } from '../util/gradcheck.js';
import { availableIsas, withIsa } from '../util/isa.js';
import { Rng } from '../util/random.js';

// [shape of x]; the last dim is C. Odd C exercises the vector tails; [2, 3, 4, 16] is Qwen3's per-head q/k norm.
const SHAPES = [
  [1, 1],
  [3, 7],
  [5, 64],
  [2, 3, 4, 16],
  [33, 100],
  [70, 257],
];
const EPS = 1e-5;

function runRmsNorm(x: Float32Array, w: Float32Array, shape: number[], g: Float32Array, freezeWeight = false) {
  return scope(() => {
    const C = shape[shape.length - 1] as number;
    const tx = Tensor.from(x, shape).requiresGrad_();
    const tw = Tensor.from(w, [C]).requiresGrad_(!freezeWeight);
    const y = rmsNorm(tx, tw, EPS);
    y.backward(Tensor.from(g, shape));
    const out = { y: y.toFloat32Array(), dx: tx.grad?.toFloat32Array(), dw: tw.grad?.toFloat32Array() };
    tx.grad?.dispose();
    tw.grad?.dispose();
    return out;
  });
}

function data(rng: Rng, shape: number[]) {
  const n = shape.reduce((a, b) => a * b, 1);
  const C = shape[shape.length - 1] as number;
  return { x: rng.floats(n, -2, 2), w: rng.floats(C, 0.5, 1.5), g: rng.floats(n) };
}

test('rmsNorm forward and backward match the float64 reference on every ISA path', () => {
  const rng = new Rng(11);
  for (const isa of availableIsas()) {
    withIsa(isa, () => {
      for (const shape of SHAPES) {
        const { x, w, g } = data(rng, shape);
        const got = runRmsNorm(x.f32, w.f32, shape, g.f32);
        const ref = rmsNormBackwardRef(x.f64, w.f64, EPS, g.f64);
        const tol = { atol: 1e-6, rtol: 1e-5 };
        assertClose(got.y, rmsNormRef(x.f64, w.f64, EPS), tol, `${isa} y ${shape}`);
        assertClose(got.dx ?? [], ref.dx, tol, `${isa} dx ${shape}`);
        // dw sums over up to 70 rows
        assertClose(got.dw ?? [], ref.dw, { atol: 1e-5, rtol: 1e-5 }, `${isa} dw ${shape}`);
      }
    });
  }
});

test('rmsNorm reference backward matches finite differences (float64)', () => {
  const rng = new Rng(12);
  const shape = [3, 5];
  const { x, w, g } = data(rng, shape);
  const ref = rmsNormBackwardRef(x.f64, w.f64, EPS, g.f64);
  assertGradient((xv) => dot(rmsNormRef(xv, w.f64, EPS), g.f64), x.f64, ref.dx, {}, 'dx');
  assertGradient((wv) => dot(rmsNormRef(x.f64, wv, EPS), g.f64), w.f64, ref.dw, {}, 'dw');
});

test('rmsNorm with a frozen weight gives dx only; a bf16 weight is widened', () => {
  const rng = new Rng(13);
  const shape = [4, 24];
  const { x, w, g } = data(rng, shape);
  const got = runRmsNorm(x.f32, w.f32, shape, g.f32, true);
  assert.equal(got.dw, undefined);
  assertClose(got.dx ?? [], rmsNormBackwardRef(x.f64, w.f64, EPS, g.f64).dx, { atol: 1e-6, rtol: 1e-5 }, 'dx');
  scope(() => {
    const wb = Tensor.from(w.f32, [24], 'bf16');
    const wWide = Float64Array.from(wb.toFloat32Array());
    const y = rmsNorm(Tensor.from(x.f32, shape), wb, EPS);
    assertClose(y.toFloat32Array(), rmsNormRef(x.f64, wWide, EPS), { atol: 1e-6, rtol: 1e-5 }, 'bf16 weight');
  });
});

test('rmsNorm is bit-identical with 1 and 2 threads', () => {
  const rng = new Rng(14);
  const shape = [301, 96];
  const { x, w, g } = data(rng, shape);
  const one = withThreads(1, () => runRmsNorm(x.f32, w.f32, shape, g.f32));
  const two = withThreads(2, () => runRmsNorm(x.f32, w.f32, shape, g.f32));
  assert.deepEqual(two, one);
});

test('rmsNorm rejects a weight of the wrong size', () => {
  scope(() => {
    assert.throws(() => rmsNorm(Tensor.zeros([2, 8]), Tensor.zeros([4]), EPS), /weight must be \[C\]/);
  });
});

test('rmsNorm leaks nothing over forward/backward steps', () => {
  const rng = new Rng(15);
  const { x, w, g } = data(rng, [8, 32]);
  runRmsNorm(x.f32, w.f32, [8, 32], g.f32);
  const base = liveBytes();
  for (let i = 0; i < 20; i++) runRmsNorm(x.f32, w.f32, [8, 32], g.f32);
  scope(() => {
    rmsNorm(Tensor.from(x.f32, [8, 32]), Tensor.from(w.f32, [32]), EPS); // not recorded: rstd is freed at once
  });
  assert.equal(liveBytes(), base);
});
