import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  clipGradNorm_,
  gradNorm,
  NonFiniteGradNormError,
  scope,
  sumSquares,
  sumSquaresValue,
  Tensor,
} from '../../src/engine/index.js';
import { clipGradNormRef, gradNormRef, sumSquaresRef } from '../../src/engine/reference/grad-clip.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { assertGradient } from '../util/gradcheck.js';
import { availableIsas, withIsa } from '../util/isa.js';
import { Rng } from '../util/random.js';

test('sumSquaresValue matches the float64 reference on odd and round sizes', () => {
  const rng = new Rng(21);
  for (const n of [0, 1, 3, 17, 4096, 70_001]) {
    const x = rng.floats(n, -3, 3);
    const got = scope(() => sumSquaresValue(Tensor.from(x.f32, [n])));
    // double accumulation: only the summation order differs from the reference
    assertClose([got], [sumSquaresRef(x.f64)], { atol: 1e-12, rtol: 1e-12 }, `n=${n}`);
  }
});

test('sumSquares: autograd gradient matches finite differences of the reference', () => {
  const rng = new Rng(22);
  const x = rng.floats(29);
  scope(() => {
    const t = Tensor.from(x.f32, [29]).requiresGrad_();
    const loss = sumSquares(t);
    assert.deepEqual(loss.shape, []);
    loss.backward();
    assertGradient(sumSquaresRef, x.f64, t.grad?.toFloat32Array() ?? [], { atol: 1e-6 }, 'd/dx');
    t.grad?.dispose();
  });
});

test('sumSquaresValue: 1 thread and N threads give the same double', () => {
  const rng = new Rng(23);
  const n = 500_001;
  const x = rng.floats(n);
  const run = () => scope(() => sumSquaresValue(Tensor.from(x.f32, [n])));
  assert.equal(withThreads(1, run), withThreads(4, run));
});

test('gradNorm and clipGradNorm_ match the reference, clipping only above maxNorm', () => {
  const rng = new Rng(24);
  const sizes = [7, 300, 1];
  const data = sizes.map((n) => rng.floats(n));
  scope(() => {
    const grads = data.map((d, i) => Tensor.from(d.f32, [sizes[i] as number]));
    const refNorm = gradNormRef(data.map((d) => d.f64));
    assertClose([gradNorm([...grads, null])], [refNorm], { atol: 0, rtol: 1e-12 }, 'norm');

    // maxNorm above the norm: untouched
    assert.equal(clipGradNorm_(grads, refNorm * 2), gradNorm(grads));
    for (const [i, g] of grads.entries()) assert.deepEqual(g.toFloat32Array(), data[i]?.f32);

    // maxNorm below: scaled to maxNorm (up to the 1e-6 guard)
    const ref = clipGradNormRef(
      data.map((d) => d.f64),
      1,
    );
    const returned = clipGradNorm_(grads, 1);
    assertClose([returned], [ref.norm], { atol: 0, rtol: 1e-12 }, 'returned norm');
    for (const [i, g] of grads.entries())
      assertClose(g.toFloat32Array(), ref.grads[i] as Float64Array, { atol: 1e-7, rtol: 1e-6 }, `grad ${i}`);
    assertClose([gradNorm(grads)], [1], { atol: 2e-6, rtol: 0 }, 'norm after clipping');
  });
});

test('clipGradNorm_ reports a non-finite norm without touching the gradients, or throws when asked', () => {
  scope(() => {
    const g = Tensor.from([1, Number.POSITIVE_INFINITY, 2], [3]);
    const h = Tensor.from([3, 4], [2]);
    assert.equal(clipGradNorm_([g, h], 1), Number.POSITIVE_INFINITY);
    assert.deepEqual([...h.toFloat32Array()], [3, 4]);
    const n = Tensor.from([Number.NaN], [1]);
    assert.ok(Number.isNaN(clipGradNorm_([h, n], 1)));
    assert.deepEqual([...h.toFloat32Array()], [3, 4]);
    assert.throws(() => clipGradNorm_([g], 1, { errorIfNonfinite: true }), NonFiniteGradNormError);
    assert.throws(() => clipGradNorm_([h], 0), /maxNorm must be > 0/);
  });
});

test('sumSquaresValue gives the same double on every ISA path', () => {
  const rng = new Rng(25);
  const n = 70_003;
  const x = rng.floats(n, -5, 5);
  const values = availableIsas().map((isa) =>
    withIsa(isa, () => scope(() => sumSquaresValue(Tensor.from(x.f32, [n])))),
  );
  for (const v of values) assert.equal(v, values[0]);
});
