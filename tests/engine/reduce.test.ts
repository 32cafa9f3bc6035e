import assert from 'node:assert/strict';
import { test } from 'node:test';
import { meanAll, scope, sumAll, Tensor } from '../../src/engine/index.js';
import { meanAllRef, sumAllRef } from '../../src/engine/reference/reduce.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { assertGradient } from '../util/gradcheck.js';
import { Rng } from '../util/random.js';

const SHAPES = [[1], [7], [3, 5], [64, 64], [3, 333, 17]];

function run(op: typeof sumAll, x: Float32Array, shape: number[], g: number) {
  return scope(() => {
    const tx = Tensor.from(x, shape).requiresGrad_();
    const y = op(tx);
    assert.deepEqual(y.shape, []);
    y.backward(Tensor.from([g], []));
    const out = { y: y.item(), dx: tx.grad?.toFloat32Array() ?? new Float32Array() };
    tx.grad?.dispose();
    return out;
  });
}

test('sumAll and meanAll match the float64 reference, rounded once', () => {
  const rng = new Rng(51);
  for (const shape of SHAPES) {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = rng.floats(n, -1, 3);
    const s = run(sumAll, x.f32, shape, 0.5);
    const m = run(meanAll, x.f32, shape, 2);
    // accumulated in float64: within one f32 rounding of the exact value
    assert.equal(s.y, Math.fround(sumAllRef(x.f64)), `sum ${shape}`);
    assertClose([m.y], [meanAllRef(x.f64)], { atol: 0, rtol: 1.2e-7 }, `mean ${shape}`);
    assertClose(s.dx, new Float64Array(n).fill(0.5), { atol: 0, rtol: 0 }, `dsum ${shape}`);
    assertClose(m.dx, new Float64Array(n).fill(2 / n), { atol: 0, rtol: 1e-7 }, `dmean ${shape}`);
  }
});

test('sumAll/meanAll reference gradients match finite differences (float64)', () => {
  const x = new Rng(52).floats(9).f64;
  assertGradient(sumAllRef, x, new Float64Array(9).fill(1), {}, 'dsum');
  assertGradient(meanAllRef, x, new Float64Array(9).fill(1 / 9), {}, 'dmean');
});

test('sumAll is bit-identical with 1 and 2 threads and exact where f32 chains drift', () => {
  const n = 1_000_003;
  const x = new Float32Array(n).fill(0.1);
  const one = withThreads(1, () => run(sumAll, x, [n], 1).y);
  const two = withThreads(2, () => run(sumAll, x, [n], 1).y);
  assert.equal(one, two);
  assert.equal(one, Math.fround(n * Math.fround(0.1)));
});

test('meanAll of an empty tensor is NaN, as in PyTorch', () => {
  scope(() => {
    assert.ok(Number.isNaN(meanAll(Tensor.zeros([0, 3])).item()));
    assert.equal(sumAll(Tensor.zeros([0])).item(), 0);
  });
});
