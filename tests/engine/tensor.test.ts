import assert from 'node:assert/strict';
import { test } from 'node:test';
import { add, keep, liveBytes, mul, noGrad, scope, sumAll, Tensor } from '../../src/engine/index.js';

test('from/to typed arrays round-trips every dtype', () => {
  const values = [0, 1, -2.5, 3.140625, 65504, -0.0001];
  const f = Tensor.from(values, [2, 3]);
  assert.deepEqual(
    [...f.toFloat32Array()],
    values.map((v) => Math.fround(v)),
  );
  const b = f.to('bf16');
  assert.deepEqual([...b.toFloat32Array()].slice(0, 4), [0, 1, -2.5, 3.140625]);
  const h = f.to('f16');
  assert.deepEqual([...h.toFloat32Array()].slice(0, 5), [0, 1, -2.5, 3.140625, 65504]);
  const i = Tensor.from([1, -2, 3], [3], 'i32');
  assert.deepEqual([...i.toInt32Array()], [1, -2, 3]);
  for (const t of [f, b, h, i]) t.dispose();
});

test('bf16 and f16 conversion round to nearest even like PyTorch', () => {
  // 1 + 2^-8 is exactly halfway between two bf16 values: ties to even (1.0); 1 + 3*2^-9 rounds up.
  const t = Tensor.from([1 + 2 ** -8, 1 + 3 * 2 ** -9, 1e-8, 70000, Number.NaN], [5]);
  const b = [...t.to('bf16').toFloat32Array()];
  assert.equal(b[0], 1);
  assert.equal(b[1], 1 + 2 ** -7);
  const h = [...t.to('f16').toFloat32Array()];
  assert.equal(h[2], 0); // below half the smallest f16 subnormal (2^-25)
  assert.equal(h[3], Number.POSITIVE_INFINITY);
  assert.ok(Number.isNaN(h[4]));
  const sub = Tensor.from([2 ** -24, 3 * 2 ** -25, 2 ** -20 + 2 ** -25], [3])
    .to('f16')
    .toFloat32Array();
  assert.deepEqual([...sub], [2 ** -24, 2 ** -23, 2 ** -20]);
});

test('reshape views share storage; storage is freed with the last view', () => {
  const before = liveBytes();
  const t = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
  const v = t.reshape([3, -1]);
  assert.deepEqual(v.shape, [3, 2]);
  t.dispose();
  assert.deepEqual([...v.toFloat32Array()], [1, 2, 3, 4, 5, 6]);
  assert.equal(liveBytes(), before + 24);
  v.dispose();
  assert.equal(liveBytes(), before);
  assert.throws(() => v.toFloat32Array(), /disposed/);
  assert.throws(() => Tensor.from([1, 2], [3]), /do not fill/);
});

test('scope frees what it created except what it returns or keeps', () => {
  const before = liveBytes();
  let kept: Tensor | undefined;
  const out = scope(() => {
    Tensor.zeros([100]);
    kept = keep(Tensor.zeros([10]));
    const inner = scope(() => ({ a: Tensor.zeros([5]), junk: [Tensor.zeros([7])] }));
    inner.junk[0]?.dispose();
    return inner.a;
  });
  assert.equal(liveBytes(), before + 20 + 40);
  out.dispose();
  kept?.dispose();
  assert.equal(liveBytes(), before);
  assert.throws(() =>
    scope(() => {
      Tensor.zeros([3]);
      throw new Error('boom');
    }),
  );
  assert.equal(liveBytes(), before);
});

test('noGrad records nothing', () => {
  const a = Tensor.from([1, 2], [2]).requiresGrad_();
  const y = noGrad(() => a.reshape([1, 2]));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.gradFn, null);
});

test('releaseValues frees an activation but keeps its place on the tape', () => {
  scope(() => {
    const x = Tensor.from([1, 2, 3], [3]).requiresGrad_();
    const w = Tensor.from([4, 5, 6], [3]).requiresGrad_();
    const before = liveBytes();
    const a = mul(x, w); // a's values are not read by add's backward
    const y = add(a, x);
    a.releaseValues();
    assert.equal(liveBytes(), before + y.byteLength, 'a is freed, y remains');
    assert.throws(() => a.toFloat32Array(), /disposed/);
    sumAll(y).backward();
    // d/dx (x*w + x) = w + 1, d/dw = x: the gradient flowed through the released tensor's node
    assert.deepEqual([...(x.grad as Tensor).toFloat32Array()], [5, 6, 7]);
    assert.deepEqual([...(w.grad as Tensor).toFloat32Array()], [1, 2, 3]);
    x.grad?.dispose();
    w.grad?.dispose();
  });
});
