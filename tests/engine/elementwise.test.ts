import assert from 'node:assert/strict';
import { test } from 'node:test';
import { add, liveBytes, mul, scale, scope, Tensor } from '../../src/engine/index.js';
import { addRef, mulRef, scaleRef } from '../../src/engine/reference/elementwise.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { assertGradient, dot } from '../util/gradcheck.js';
import { Rng } from '../util/random.js';

const SHAPES = [[1], [7], [3, 5], [64, 64], [3, 333, 17]];

test('add/mul/scale match the float64 reference on odd and round shapes', () => {
  const rng = new Rng(7);
  for (const shape of SHAPES) {
    const n = shape.reduce((a, b) => a * b, 1);
    const a = rng.floats(n);
    const b = rng.floats(n);
    scope(() => {
      const ta = Tensor.from(a.f32, shape);
      const tb = Tensor.from(b.f32, shape);
      assertClose(add(ta, tb).toFloat32Array(), addRef(a.f64, b.f64), { atol: 1e-7, rtol: 1e-6 }, `add ${shape}`);
      assertClose(mul(ta, tb).toFloat32Array(), mulRef(a.f64, b.f64), { atol: 1e-7, rtol: 1e-6 }, `mul ${shape}`);
      assertClose(
        scale(ta, -0.37).toFloat32Array(),
        scaleRef(a.f64, -0.37),
        { atol: 1e-7, rtol: 1e-6 },
        `scale ${shape}`,
      );
    });
  }
});

test('elementwise gradients: autograd matches finite differences of the reference', () => {
  const rng = new Rng(8);
  const n = 37;
  const a = rng.floats(n);
  const b = rng.floats(n);
  const w = rng.floats(n);
  scope(() => {
    const ta = Tensor.from(a.f32, [n]).requiresGrad_();
    const tb = Tensor.from(b.f32, [n]).requiresGrad_();
    // y = scale(a * b + a, 1.5): exercises a fan-out (a used twice) and every op's backward
    const y = scale(add(mul(ta, tb), ta), 1.5);
    const loss = mul(y, Tensor.from(w.f32, [n]));
    loss.backward(Tensor.from(new Float32Array(n).fill(1), [n]));
    const f = (av: Float64Array, bv: Float64Array) => dot(scaleRef(addRef(mulRef(av, bv), av), 1.5), w.f64);
    assertGradient((x) => f(x, b.f64), a.f64, ta.grad?.toFloat32Array() ?? [], { atol: 1e-5 }, 'd/da');
    assertGradient((x) => f(a.f64, x), b.f64, tb.grad?.toFloat32Array() ?? [], { atol: 1e-5 }, 'd/db');
    ta.grad?.dispose();
    tb.grad?.dispose();
  });
});

test('gradients accumulate into .grad across backward calls', () => {
  const a = Tensor.from([1, 2, 3], [3]).requiresGrad_();
  for (let i = 0; i < 3; i++) scope(() => scale(a, 2).backward(Tensor.from([1, 1, 1], [3])));
  assert.deepEqual([...(a.grad?.toFloat32Array() ?? [])], [6, 6, 6]);
});

test('1 thread and N threads agree', () => {
  const rng = new Rng(9);
  const n = 300_001;
  const a = rng.floats(n);
  const b = rng.floats(n);
  const run = () => scope(() => mul(Tensor.from(a.f32, [n]), Tensor.from(b.f32, [n])).toFloat32Array());
  assert.deepEqual(withThreads(1, run), withThreads(4, run));
});

test('no leak over repeated forward/backward steps', () => {
  const w = Tensor.from(new Float32Array(1000).fill(0.5), [1000]).requiresGrad_();
  const step = () =>
    scope(() => {
      const x = Tensor.from(new Float32Array(1000).fill(2), [1000]);
      mul(add(mul(x, w), w), x).backward(Tensor.from(new Float32Array(1000).fill(1), [1000]));
    });
  step();
  const base = liveBytes();
  for (let i = 0; i < 50; i++) step();
  assert.equal(liveBytes(), base);
});
