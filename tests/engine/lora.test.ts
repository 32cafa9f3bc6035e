import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  add,
  dropout,
  Generator,
  linear,
  liveBytes,
  loraLinear,
  scale,
  scope,
  Tensor,
} from '../../src/engine/index.js';
import { assertClose } from '../util/assert.js';
import { Rng } from '../util/random.js';

/** The fused op against the composition it replaces: linear + linear(linear) * s + add (each already verified). */
function compare(m: number, k: number, n: number, r: number, o: { bias: boolean; trainW: boolean; dropout: number }) {
  const rng = new Rng(m * 31 + k * 7 + n + r);
  const data = (len: number, s = 1) => rng.floats(len, -s, s).f32;
  const x0 = data(m * k);
  const w0 = data(n * k, 0.2);
  const b0 = data(n);
  const a0 = data(r * k, 0.3);
  const bl0 = data(n * r, 0.3);
  const g0 = data(m * n);
  const run = (fused: boolean) =>
    scope(() => {
      const x = Tensor.from(x0, [m, k]).requiresGrad_();
      const w = Tensor.from(w0, [n, k]).requiresGrad_(o.trainW);
      const b = o.bias ? Tensor.from(b0, [n]).requiresGrad_() : undefined;
      const a = Tensor.from(a0, [r, k]).requiresGrad_();
      const bl = Tensor.from(bl0, [n, r]).requiresGrad_();
      const xd = o.dropout > 0 ? dropout(x, o.dropout, { generator: new Generator(3), training: true }) : x;
      const y = fused
        ? loraLinear(x, w, b, a, bl, 1.7, o.dropout > 0 ? xd : undefined)
        : add(linear(x, w, b), scale(linear(linear(xd, a), bl), 1.7));
      y.backward(Tensor.from(g0, [m, n]));
      const grads = [x, w, a, bl, ...(b ? [b] : [])].map((t) => t.grad?.toFloat32Array() ?? null);
      return { y: y.toFloat32Array(), grads };
    });
  const f = run(true);
  const c = run(false);
  assertClose(f.y, c.y, { atol: 1e-5, rtol: 1e-5 }, 'y');
  f.grads.forEach((g, i) => {
    if (g === null) assert.equal(c.grads[i], null, `grad ${i} presence`);
    else assertClose(g, c.grads[i] as Float32Array, { atol: 1e-5, rtol: 1e-5 }, `grad ${i}`);
  });
}

test('loraLinear equals the unfused composition: outputs and every gradient, odd and round shapes', () => {
  compare(7, 13, 5, 3, { bias: false, trainW: false, dropout: 0 });
  compare(64, 64, 32, 8, { bias: true, trainW: false, dropout: 0 });
  compare(33, 17, 41, 4, { bias: true, trainW: true, dropout: 0 });
  compare(20, 24, 12, 2, { bias: false, trainW: false, dropout: 0.3 });
});

test('loraLinear keeps no [M, N] intermediate: live memory after backward is the same as for a plain linear', () => {
  const x = Tensor.from(new Float32Array(256 * 64).fill(0.1), [256, 64]);
  const w = Tensor.from(new Float32Array(512 * 64).fill(0.01), [512, 64]);
  const a = Tensor.from(new Float32Array(4 * 64).fill(0.02), [4, 64]).requiresGrad_();
  const b = Tensor.from(new Float32Array(512 * 4).fill(0.03), [512, 4]).requiresGrad_();
  const before = liveBytes();
  let peakFused = 0;
  scope(() => {
    loraLinear(x, w, undefined, a, b, 2);
    peakFused = liveBytes() - before;
  });
  // the output y [256, 512] plus u [256, 4]
  assert.equal(peakFused, (256 * 512 + 256 * 4) * 4);
});
