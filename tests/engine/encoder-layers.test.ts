// Forward-only encoder kernels (native/src/kernels/encoder.cc) vs float64 references: LayerNorm (biased variance),
// erf GELU at known values, tanh, masked mean pooling (padding ignored, an empty row gives zeros), L2 rows; and
// the refusal of inputs that want a gradient.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { geluErf, l2NormalizeRows, layerNorm, maskedMeanPool, scope, Tensor, tanh } from '../../src/engine/index.js';
import { Rng } from '../util/random.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++)
    assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

test('layerNorm matches (x - mean) / sqrt(var + eps) * w + b per row', () => {
  scope(() => {
    const rng = new Rng(4);
    const [n, c] = [5, 37];
    const x = rng.floats(n * c, -3, 3);
    const w = rng.floats(c, 0.5, 1.5);
    const b = rng.floats(c, -0.2, 0.2);
    const got = layerNorm(Tensor.from(x.f32, [n, c]), Tensor.from(w.f32, [c]), Tensor.from(b.f32, [c]), 1e-5);
    const want: number[] = [];
    for (let r = 0; r < n; r++) {
      const row = x.f64.subarray(r * c, (r + 1) * c);
      const mean = row.reduce((s, v) => s + v, 0) / c;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / c;
      for (let j = 0; j < c; j++)
        want.push(
          (((row[j] as number) - mean) / Math.sqrt(variance + 1e-5)) * (w.f64[j] as number) + (b.f64[j] as number),
        );
    }
    close(got.toFloat32Array(), want, 1e-5, 'layerNorm');
  });
});

test('geluErf and tanh at known values', () => {
  scope(() => {
    const x = Tensor.from([-3, -1, 0, 0.5, 1, 2], [6]);
    // 0.5 x (1 + erf(x / sqrt 2)), erf from tables
    close(geluErf(x).toFloat32Array(), [-0.0040496, -0.1586553, 0, 0.3457312, 0.8413447, 1.9544997], 1e-6, 'gelu');
    close(tanh(x).toFloat32Array(), [-3, -1, 0, 0.5, 1, 2].map(Math.tanh), 1e-6, 'tanh');
  });
});

test('maskedMeanPool averages the masked-in tokens only; l2NormalizeRows gives unit rows', () => {
  scope(() => {
    const x = Tensor.from([1, 2, 3, 4, 100, 100, 5, 6, 7, 8, 9, 10], [2, 3, 2]);
    const mask = Tensor.from([1, 1, 0, 1, 0, 1], [2, 3], 'i32');
    close(maskedMeanPool(x, mask).toFloat32Array(), [2, 3, 7, 8], 1e-6, 'pool');
    const empty = maskedMeanPool(x, Tensor.from([0, 0, 0, 1, 1, 1], [2, 3], 'i32'));
    close(empty.toFloat32Array(), [0, 0, 7, 8], 1e-6, 'empty row');
    close(l2NormalizeRows(Tensor.from([3, 4, 0, 0], [2, 2])).toFloat32Array(), [0.6, 0.8, 0, 0], 1e-7, 'l2');
  });
});

test('the encoder layers refuse inputs that want a gradient (they have no backward)', () => {
  scope(() => {
    const x = Tensor.from([1, 2], [2]).requiresGrad_();
    assert.throws(() => geluErf(x), /forward-only/);
    assert.throws(() => layerNorm(x, Tensor.from([1, 1], [2]), Tensor.from([0, 0], [2]), 1e-5), /forward-only/);
  });
});
