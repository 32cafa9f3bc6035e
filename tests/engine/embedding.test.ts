import assert from 'node:assert/strict';
import { test } from 'node:test';
import { embedding, liveBytes, scope, Tensor } from '../../src/engine/index.js';
import { embeddingBackwardRef, embeddingRef } from '../../src/engine/reference/embedding.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { assertGradient, dot } from '../util/gradcheck.js';
import { Rng } from '../util/random.js';

// [V, C, ids shape]
const CASES: [number, number, number[]][] = [
  [1, 1, [1]],
  [5, 3, [2, 7]],
  [64, 64, [4, 16]],
  [257, 33, [3, 50]],
];

function randomIds(rng: Rng, n: number, V: number): Int32Array {
  // a few hot ids repeat, as real text does, so the scatter-add really accumulates
  return Int32Array.from({ length: n }, () => (rng.next() < 0.3 ? rng.int(Math.min(V, 3)) : rng.int(V)));
}

function runEmbedding(w: Float32Array, V: number, C: number, ids: Int32Array, idsShape: number[], g: Float32Array) {
  return scope(() => {
    const tw = Tensor.from(w, [V, C]).requiresGrad_();
    const y = embedding(tw, Tensor.from(ids, idsShape, 'i32'));
    assert.deepEqual(y.shape, [...idsShape, C]);
    y.backward(Tensor.from(g, y.shape));
    const out = { y: y.toFloat32Array(), dw: tw.grad?.toFloat32Array() ?? new Float32Array() };
    tw.grad?.dispose();
    return out;
  });
}

test('embedding forward and scatter-add backward match the float64 reference', () => {
  const rng = new Rng(41);
  for (const [V, C, shape] of CASES) {
    const n = shape.reduce((a, b) => a * b, 1);
    const w = rng.floats(V * C);
    const ids = randomIds(rng, n, V);
    const g = rng.floats(n * C);
    const got = runEmbedding(w.f32, V, C, ids, shape, g.f32);
    assertClose(got.y, embeddingRef(w.f64, ids, C), { atol: 0, rtol: 0 }, `y V=${V} C=${C}`);
    assertClose(got.dw, embeddingBackwardRef(g.f64, ids, V, C), { atol: 1e-6, rtol: 1e-6 }, `dw V=${V} C=${C}`);
  }
});

test('embedding reads bf16 and f16 weights exactly (widened to f32)', () => {
  const rng = new Rng(42);
  const [V, C] = [9, 13];
  const w = rng.floats(V * C, -3, 3);
  const ids = Int32Array.from([8, 0, 3, 3, 5]);
  for (const dtype of ['bf16', 'f16'] as const) {
    scope(() => {
      const tw = Tensor.from(w.f32, [V, C], dtype);
      const wide = Float64Array.from(tw.toFloat32Array());
      const y = embedding(tw, Tensor.from(ids, [5], 'i32'));
      assertClose(y.toFloat32Array(), embeddingRef(wide, ids, C), { atol: 0, rtol: 0 }, dtype);
    });
  }
});

test('embedding reference backward matches finite differences (float64)', () => {
  const rng = new Rng(43);
  const [V, C] = [4, 3];
  const ids = Int32Array.from([1, 3, 1, 0, 1]);
  const w = rng.floats(V * C);
  const g = rng.floats(ids.length * C);
  assertGradient((v) => dot(embeddingRef(v, ids, C), g.f64), w.f64, embeddingBackwardRef(g.f64, ids, V, C), {}, 'dW');
});

test('embedding paddingIdx zeroes that row of the gradient, as PyTorch does', () => {
  const rng = new Rng(45);
  const [V, C] = [6, 5];
  const ids = Int32Array.from([0, 2, 0, 5, 2]);
  const g = rng.floats(ids.length * C);
  const w = rng.floats(V * C);
  for (const paddingIdx of [2, -4]) {
    const dw = scope(() => {
      const tw = Tensor.from(w.f32, [V, C]).requiresGrad_();
      const y = embedding(tw, Tensor.from(ids, [5], 'i32'), { paddingIdx });
      assertClose(y.toFloat32Array(), embeddingRef(w.f64, ids, C), { atol: 0, rtol: 0 }, 'forward unchanged');
      y.backward(Tensor.from(g.f32, y.shape));
      const out = tw.grad?.toFloat32Array() ?? new Float32Array();
      tw.grad?.dispose();
      return out;
    });
    const expected = embeddingBackwardRef(g.f64, ids, V, C).fill(0, 2 * C, 3 * C);
    assertClose(dw, expected, { atol: 1e-7, rtol: 1e-6 }, `paddingIdx ${paddingIdx}`);
  }
  scope(() => {
    assert.throws(
      () => embedding(Tensor.zeros([4, 2]), Tensor.from([1], [1], 'i32'), { paddingIdx: 4 }),
      /paddingIdx 4/,
    );
  });
});

test('embedding with a frozen weight records nothing', () => {
  scope(() => {
    const y = embedding(Tensor.zeros([4, 2]), Tensor.from([1, 2], [2], 'i32'));
    assert.equal(y.requiresGrad, false);
    assert.equal(y.gradFn, null);
  });
});

test('embedding names the bad id and the vocabulary size', () => {
  const before = liveBytes();
  scope(() => {
    const w = Tensor.zeros([10, 4]);
    assert.throws(() => embedding(w, Tensor.from([1, 10], [2], 'i32')), /token id 10 at flat position 1 .* 10 rows/);
    assert.throws(() => embedding(w, Tensor.from([-1], [1], 'i32')), /token id -1 at flat position 0/);
    assert.throws(() => embedding(w, Tensor.zeros([2], 'f32')), /ids must be i32/);
  });
  assert.equal(liveBytes(), before);
});

test('embedding backward is bit-identical with 1 and 2 threads', () => {
  const rng = new Rng(44);
  const [V, C, n] = [300, 48, 2000];
  const w = rng.floats(V * C);
  const ids = randomIds(rng, n, V);
  const g = rng.floats(n * C);
  const one = withThreads(1, () => runEmbedding(w.f32, V, C, ids, [n], g.f32));
  const two = withThreads(2, () => runEmbedding(w.f32, V, C, ids, [n], g.f32));
  assert.deepEqual(two, one);
});
