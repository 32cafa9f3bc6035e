import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dropout, Generator, mul, scope, Tensor } from '../../src/engine/index.js';
import { dropoutMaskRef, dropoutRef } from '../../src/engine/reference/dropout.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { Rng } from '../util/random.js';

test('dropout matches the float64 reference mask and scale on odd and round shapes', () => {
  const rng = new Rng(31);
  const cases: [number[], number][] = [
    [[1], 0.5],
    [[7, 3], 0.1],
    [[64, 64], 0.25],
    [[3, 333, 5], 0.9],
  ];
  for (const [shape, p] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = rng.floats(n);
    scope(() => {
      const y = dropout(Tensor.from(x.f32, shape), p, { seed: 1234, offset: 44 });
      // two f32 roundings: the scale 1 / (1 - p) and the product
      assertClose(y.toFloat32Array(), dropoutRef(x.f64, p, 1234, 44), { atol: 0, rtol: 2.5e-7 }, `p=${p} ${shape}`);
    });
  }
});

test('dropout keeps about 1 - p of the values and preserves the mean', () => {
  scope(() => {
    const n = 100_000;
    const y = dropout(Tensor.from(new Float32Array(n).fill(1), [n]), 0.3, { generator: new Generator(5) });
    const v = y.toFloat32Array();
    const kept = v.filter((x) => x !== 0).length / n;
    assert.ok(Math.abs(kept - 0.7) < 0.01, `kept fraction ${kept}`); // ~7 standard errors
    assertClose([v.reduce((s, x) => s + x, 0) / n], [1], { atol: 0.015, rtol: 0 }, 'mean');
  });
});

test('dropout: p = 0 or eval is the identity without a copy; p = 1 zeroes everything', () => {
  scope(() => {
    const x = Tensor.from([1, 2, 3], [3]);
    assert.equal(dropout(x, 0, { seed: 1 }), x);
    assert.equal(dropout(x, 0.5, { training: false }), x);
    assert.deepEqual([...dropout(x, 1, { seed: 1 }).toFloat32Array()], [0, 0, 0]);
    assert.throws(() => dropout(x, 0.5), /needs \{ generator \} or \{ seed, offset \}/);
    assert.throws(() => dropout(x, 1.5, { seed: 1 }), /p must be in \[0, 1\]/);
  });
});

test('dropout backward regenerates the forward mask: dx = g * mask / (1 - p)', () => {
  const rng = new Rng(32);
  const n = 1000;
  const x = rng.floats(n);
  const g = rng.floats(n);
  scope(() => {
    const gen = new Generator(77, 400);
    const tx = Tensor.from(x.f32, [n]).requiresGrad_();
    // a second use of the generator in the same graph must not disturb the first mask
    const y = mul(
      dropout(tx, 0.4, { generator: gen }),
      dropout(Tensor.from(new Float32Array(n).fill(1), [n]), 0.2, { generator: gen }),
    );
    y.backward(Tensor.from(g.f32, [n]));
    const m1 = dropoutMaskRef(n, 0.4, 77, 400);
    const m2 = dropoutRef(new Float64Array(n).fill(1), 0.2, 77, 400 + n);
    const expected = g.f64.map((gi, i) => (gi * (m1[i] as number) * (m2[i] as number)) / 0.6);
    assertClose(tx.grad?.toFloat32Array() ?? [], expected, { atol: 1e-7, rtol: 1e-6 }, 'dx');
    tx.grad?.dispose();
  });
});

test('the mask depends only on (seed, offset + index): halves at shifted offsets equal the whole', () => {
  const rng = new Rng(33);
  const n = 1001;
  const x = rng.floats(n);
  scope(() => {
    const whole = dropout(Tensor.from(x.f32, [n]), 0.5, { seed: 9, offset: 3 }).toFloat32Array();
    const head = dropout(Tensor.from(x.f32.subarray(0, 500), [500]), 0.5, { seed: 9, offset: 3 }).toFloat32Array();
    const tail = dropout(Tensor.from(x.f32.subarray(500), [n - 500]), 0.5, { seed: 9, offset: 503 }).toFloat32Array();
    assert.deepEqual(whole, Float32Array.from([...head, ...tail]));
  });
});

test('dropout: 1 thread and N threads give the same mask', () => {
  const n = 300_001;
  const x = new Rng(34).floats(n);
  const run = () => scope(() => dropout(Tensor.from(x.f32, [n]), 0.1, { seed: 2, offset: 0 }).toFloat32Array());
  assert.deepEqual(withThreads(1, run), withThreads(4, run));
});
