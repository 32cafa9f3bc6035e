import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  crossEntropy,
  crossEntropyPerRow,
  liveBytes,
  native,
  scope,
  shiftLabels,
  Tensor,
  tokenLogProbs,
} from '../../src/engine/index.js';
import {
  crossEntropyRef,
  tokenLogProbsBackwardRef,
  tokenLogProbsRef,
} from '../../src/engine/reference/cross-entropy.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { assertGradient, dot } from '../util/gradcheck.js';
import { Rng } from '../util/random.js';

// [N, V]: odd vocabularies leave a vector tail on every ISA; 1000 and 4099 cross several vectors and chunks.
const SHAPES: [number, number][] = [
  [1, 1],
  [3, 5],
  [7, 33],
  [16, 64],
  [9, 1000],
  [5, 4099],
];

function makeCase(rng: Rng, N: number, V: number) {
  const logits = rng.floats(N * V, -6, 6);
  const labels = Int32Array.from({ length: N }, (_, i) => (i % 3 === 1 ? -100 : rng.int(V)));
  return { logits, labels };
}

/** The accumulated gradient of a leaf as an array; clears .grad so the next backward starts from zero. */
function takeGrad(t: Tensor): Float32Array {
  const g = t.grad;
  if (!g) throw new Error('no gradient reached the leaf');
  const values = g.toFloat32Array();
  g.dispose();
  t.grad = null;
  return values;
}

/** Native loss (mean or sum) and its gradient for upstream gradient g. */
function nativeLoss(logits: Float32Array, labels: Int32Array, V: number, reduction: 'mean' | 'sum', g = 1) {
  return scope(() => {
    const x = Tensor.from(logits, [labels.length, V]).requiresGrad_();
    const loss = crossEntropy(x, Tensor.from(labels, [labels.length], 'i32'), { reduction });
    const value = loss.item();
    loss.backward(Tensor.scalar(g));
    return { value, grad: takeGrad(x) };
  });
}

function checkAgainstReference(label: string) {
  const rng = new Rng(21);
  for (const [N, V] of SHAPES) {
    const { logits, labels } = makeCase(rng, N, V);
    for (const reduction of ['mean', 'sum'] as const) {
      const got = nativeLoss(logits.f32, labels, V, reduction, 0.75);
      const want = crossEntropyRef(logits.f64, labels, V, { reduction });
      assertClose([got.value], [want], { atol: 1e-5, rtol: 1e-5 }, `${label} [${N}, ${V}] ${reduction} loss`);
      const count = labels.filter((y) => y !== -100).length;
      const scale = reduction === 'mean' ? (count === 0 ? 0 : 0.75 / count) : 0.75;
      // loss = -sum(logp) * scale' => dlogits = -scale * d(sum logp)
      const g = new Float64Array(N).fill(-scale);
      const wantGrad = tokenLogProbsBackwardRef(logits.f64, labels, V, g);
      assertClose(got.grad, wantGrad, { atol: 1e-7, rtol: 1e-5 }, `${label} [${N}, ${V}] ${reduction} dlogits`);
    }
    scope(() => {
      const x = Tensor.from(logits.f32, [N, V]).requiresGrad_();
      const y = Tensor.from(labels, [N], 'i32');
      const w = rng.floats(N);
      const logp = tokenLogProbs(x, y);
      assertClose(logp.toFloat32Array(), tokenLogProbsRef(logits.f64, labels, V), { atol: 1e-5, rtol: 1e-5 }, 'logp');
      logp.backward(Tensor.from(w.f32, [N]));
      const want = tokenLogProbsBackwardRef(logits.f64, labels, V, w.f64);
      assertClose(takeGrad(x), want, { atol: 1e-7, rtol: 1e-5 }, `${label} [${N}, ${V}] dlogp`);
      const rows = crossEntropyPerRow(x, y);
      const wantRows = tokenLogProbsRef(logits.f64, labels, V).map((v) => -v);
      assertClose(rows.toFloat32Array(), wantRows, { atol: 1e-5, rtol: 1e-5 }, 'per-row loss');
      rows.backward(Tensor.from(w.f32, [N]));
      const wantRowGrad = tokenLogProbsBackwardRef(
        logits.f64,
        labels,
        V,
        w.f64.map((v) => -v),
      );
      assertClose(takeGrad(x), wantRowGrad, { atol: 1e-7, rtol: 1e-5 }, 'per-row dlogits');
    });
  }
}

test('crossEntropy, crossEntropyPerRow, tokenLogProbs match the float64 reference on odd and round shapes', () => {
  checkAgainstReference(native.isa());
});

test('cross-entropy: every ISA path matches the reference', () => {
  const prev = native.isa();
  const f = native.cpuFeatures();
  const paths: ('portable' | 'avx2' | 'avx512')[] = ['portable'];
  if (f.avx2Fma) paths.push('avx2');
  if (f.avx512) paths.push('avx512');
  try {
    for (const p of paths) {
      assert.equal(native.setIsa(p), p);
      checkAgainstReference(p);
    }
  } finally {
    native.setIsa(prev);
  }
});

test('cross-entropy reference gradients match finite differences', () => {
  const rng = new Rng(22);
  const N = 4;
  const V = 6;
  const { logits, labels } = makeCase(rng, N, V);
  const w = rng.floats(N).f64;
  assertGradient(
    (x) => dot(tokenLogProbsRef(x, labels, V), w),
    logits.f64,
    tokenLogProbsBackwardRef(logits.f64, labels, V, w),
    {},
    'd logp',
  );
  const count = labels.filter((y) => y !== -100).length;
  assertGradient(
    (x) => crossEntropyRef(x, labels, V),
    logits.f64,
    tokenLogProbsBackwardRef(logits.f64, labels, V, new Float64Array(N).fill(-1 / count)),
    {},
    'd mean loss',
  );
});

test('cross-entropy: all rows ignored gives loss 0 and zero gradient, not NaN', () => {
  const labels = new Int32Array([-100, -100, -100]);
  const logits = new Rng(23).floats(3 * 10).f32;
  for (const reduction of ['mean', 'sum'] as const) {
    const got = nativeLoss(logits, labels, 10, reduction);
    assert.equal(got.value, 0);
    assert.ok(got.grad.every((v) => v === 0));
  }
});

test('cross-entropy: results are bit-identical with 1 and 2 threads', () => {
  const rng = new Rng(24);
  const N = 64;
  const V = 3001;
  const { logits, labels } = makeCase(rng, N, V);
  const one = withThreads(1, () => nativeLoss(logits.f32, labels, V, 'mean'));
  const two = withThreads(2, () => nativeLoss(logits.f32, labels, V, 'mean'));
  assert.equal(two.value, one.value);
  assert.deepEqual(two.grad, one.grad);
});

test('cross-entropy names the row and value of an out-of-range label', () => {
  scope(() => {
    const x = Tensor.zeros([3, 5]);
    assert.throws(
      () => crossEntropy(x, Tensor.from([0, 5, 1], [3], 'i32')),
      /labels\[1\] = 5 is outside the vocabulary \[0, 5\)/,
    );
    assert.throws(() => tokenLogProbs(x, Tensor.from([0, -1, 1], [3], 'i32')), /labels\[1\] = -1/);
    assert.throws(() => crossEntropy(x, Tensor.from([0, 1], [2], 'i32')), /labels must be i32 \[3\]/);
    const allZero = crossEntropy(x, Tensor.from([-7, 2, 1], [3], 'i32'), { ignoreIndex: -7 });
    assertClose([allZero.item()], [Math.log(5)], { atol: 1e-6 }, 'uniform logits');
  });
});

test('shiftLabels: labels[:, 1:] followed by ignoreIndex', () => {
  scope(() => {
    const y = Tensor.from([1, 2, 3, 4, 5, 6, 7, 8], [2, 4], 'i32');
    assert.deepEqual([...shiftLabels(y).toInt32Array()], [2, 3, 4, -100, 6, 7, 8, -100]);
    assert.deepEqual([...shiftLabels(y, -1).toInt32Array()], [2, 3, 4, -1, 6, 7, 8, -1]);
  });
});

test('cross-entropy of the llama-tiny fixture logits with shifted labels equals HF loss', () => {
  // HF causal-LM loss: logits[:, t] predicts labels[:, t + 1], mean over counted tokens (tests/fixtures/parity).
  const file = readFileSync(new URL('../fixtures/parity/llama-tiny/reference.safetensors', import.meta.url));
  const headerLen = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLen).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const bytes = (key: string) => {
    const e = header[key];
    if (!e) throw new Error(`fixture lacks ${key}`);
    const [a, b] = e.data_offsets;
    return { e, buf: file.buffer.slice(file.byteOffset + 8 + headerLen + a, file.byteOffset + 8 + headerLen + b) };
  };
  const logits = bytes('full.logits');
  const labels = bytes('labels');
  const loss = bytes('full.loss');
  const [B, T, V] = logits.e.shape as [number, number, number];
  const labels32 = Int32Array.from(new BigInt64Array(labels.buf), (v) => Number(v));
  scope(() => {
    const shifted = shiftLabels(Tensor.from(labels32, [B, T], 'i32')).reshape([B * T]);
    const got = crossEntropy(Tensor.from(new Float32Array(logits.buf), [B * T, V]), shifted).item();
    assertClose([got], [new Float32Array(loss.buf)[0] as number], { atol: 1e-5 }, 'full.loss');
  });
});

test('cross-entropy: no leak over forward/backward steps', () => {
  const { logits, labels } = makeCase(new Rng(25), 8, 50);
  nativeLoss(logits.f32, labels, 50, 'mean');
  const base = liveBytes();
  for (let i = 0; i < 5; i++) nativeLoss(logits.f32, labels, 50, 'sum');
  scope(() => {
    tokenLogProbs(Tensor.from(logits.f32, [8, 50]), Tensor.from(labels, [8], 'i32'));
  });
  assert.equal(liveBytes(), base);
});
