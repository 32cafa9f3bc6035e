import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  gemmCallCount,
  linearCrossEntropy,
  linearCrossEntropyChunkRows,
  liveBytes,
  noGrad,
  scale,
  scope,
  Tensor,
  withMatmulPrecision,
} from '../../src/engine/index.js';
import {
  linearCrossEntropyBackwardRef,
  linearCrossEntropyRef,
  linearCrossEntropyRowsRef,
} from '../../src/engine/reference/linear-cross-entropy.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { assertGradient, dot } from '../util/gradcheck.js';
import { availableIsas, bf16Caps, withBf16Cap, withIsa } from '../util/isa.js';
import { Rng } from '../util/random.js';

type WeightDType = 'f32' | 'bf16' | 'f16';
type Reduction = 'mean' | 'sum' | 'none';

interface Case {
  N: number;
  C: number;
  V: number;
  hidden: { f32: Float32Array; f64: Float64Array };
  /** f32 values; the reference reads them after the weight dtype's rounding. */
  weight: Float32Array;
  labels: Int32Array;
}

function makeCase(rng: Rng, N: number, C: number, V: number, ignoreEvery = 3): Case {
  return {
    N,
    C,
    V,
    hidden: rng.floats(N * C, -1.5, 1.5),
    weight: rng.floats(V * C, -1.5, 1.5).f32,
    labels: Int32Array.from({ length: N }, (_, i) => (i % ignoreEvery === 1 ? -100 : rng.int(V))),
  };
}

/** The weight as the op reads it: stored in dtype, values as float64 (bf16 rounding included). */
function weightOf(c: Case, dtype: WeightDType): { tensor: Tensor; f64: Float64Array } {
  const w = Tensor.from(c.weight, [c.V, c.C]);
  if (dtype === 'f32') return { tensor: w, f64: Float64Array.from(c.weight) };
  const half = w.to(dtype);
  return { tensor: half, f64: Float64Array.from(half.toFloat32Array()) };
}

function takeGrad(t: Tensor): Float32Array {
  const g = t.grad;
  if (!g) throw new Error('no gradient reached the leaf');
  const values = g.toFloat32Array();
  g.dispose();
  t.grad = null;
  return values;
}

interface NativeResult {
  loss: Float32Array;
  dHidden: Float32Array;
  dWeight: Float32Array | null;
}

/**
 * The op's loss and gradients for an upstream gradient `up` (a scalar, or per row for 'none'); dWeight only for
 * a trainable (f32) weight.
 */
function runNative(c: Case, dtype: WeightDType, reduction: Reduction, up: number | Float32Array): NativeResult {
  return scope(() => {
    const h = Tensor.from(c.hidden.f32, [c.N, c.C]).requiresGrad_();
    const w = weightOf(c, dtype).tensor;
    if (dtype === 'f32') w.requiresGrad_();
    const out = linearCrossEntropy(h, w, Tensor.from(c.labels, [c.N], 'i32'), { reduction });
    const loss = out.toFloat32Array();
    out.backward(typeof up === 'number' ? Tensor.scalar(up) : Tensor.from(up, [c.N]));
    return { loss, dHidden: takeGrad(h), dWeight: dtype === 'f32' ? takeGrad(w) : null };
  });
}

interface Expected {
  loss: number[] | Float64Array;
  dHidden: Float64Array;
  dWeight: Float64Array;
}

function reference(c: Case, dtype: WeightDType, reduction: Reduction, up: number | Float32Array): Expected {
  const w = scope(() => weightOf(c, dtype).f64);
  const shape = { N: c.N, C: c.C, V: c.V };
  const count = c.labels.filter((y) => y !== -100).length;
  let rowG: Float64Array;
  let loss: number[] | Float64Array;
  if (reduction === 'none') {
    loss = linearCrossEntropyRowsRef(c.hidden.f64, w, c.labels, shape);
    rowG = Float64Array.from(up as Float32Array);
  } else {
    loss = [linearCrossEntropyRef(c.hidden.f64, w, c.labels, shape, reduction)];
    const s = reduction === 'mean' ? (count === 0 ? 0 : (up as number) / count) : (up as number);
    rowG = new Float64Array(c.N).fill(s);
  }
  const { dHidden, dWeight } = linearCrossEntropyBackwardRef(c.hidden.f64, w, c.labels, rowG, shape);
  return { loss, dHidden, dWeight };
}

function upstream(rng: Rng, c: Case, reduction: Reduction): number | Float32Array {
  return reduction === 'none' ? rng.floats(c.N, -1, 1).f32 : 0.75;
}

function assertMatches(got: NativeResult, want: Expected, label: string, gradTol = { atol: 2e-6, rtol: 1e-4 }): void {
  assertClose(got.loss, want.loss, { atol: 1e-5, rtol: 1e-5 }, `${label} loss`);
  assertClose(got.dHidden, want.dHidden, gradTol, `${label} dHidden`);
  if (got.dWeight) assertClose(got.dWeight, want.dWeight, gradTol, `${label} dWeight`);
}

// [N, C, V]: odd sizes leave vector tails on every ISA; the last case crosses a chunk border (N = R + 11 rows, two
// chunks, the second short) at a vocabulary large enough to make chunks small.
const BIG_V = 50001;
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [17, 9, 33],
  [9, 16, 1000],
  [linearCrossEntropyChunkRows(BIG_V) + 11, 6, BIG_V],
];

interface Prepared {
  c: Case;
  dtype: WeightDType;
  reduction: Reduction;
  up: number | Float32Array;
  want: Expected;
}

/** Every shape x weight dtype x reduction with its float64 expectation, computed once for all ISA paths. */
const PREPARED: Prepared[] = (() => {
  const rng = new Rng(31);
  const out: Prepared[] = [];
  for (const [N, C, V] of SHAPES) {
    const c = makeCase(rng, N, C, V);
    for (const dtype of ['f32', 'bf16', 'f16'] as const)
      for (const reduction of ['mean', 'sum', 'none'] as const) {
        // The big case's float64 reference is slow: two reductions, two dtypes.
        if (V === BIG_V && (reduction === 'sum' || dtype === 'f16')) continue;
        const up = upstream(rng, c, reduction);
        out.push({ c, dtype, reduction, up, want: reference(c, dtype, reduction, up) });
      }
  }
  return out;
})();

test('the chunk size keeps a chunk of logits within 16 MB, but never below 64 rows', () => {
  assert.equal(linearCrossEntropyChunkRows(49152), 336);
  assert.ok(linearCrossEntropyChunkRows(BIG_V) * BIG_V * 4 <= 64 << 20);
  assert.equal(linearCrossEntropyChunkRows(151936), 96);
  assert.equal(linearCrossEntropyChunkRows(7), 1024);
});

test('linearCrossEntropy matches the float64 reference on every ISA path (f32, bf16, f16 weights, all reductions)', () => {
  for (const isa of availableIsas())
    withIsa(isa, () => {
      for (const p of PREPARED) {
        const { N, C, V } = p.c;
        const got = runNative(p.c, p.dtype, p.reduction, p.up);
        assertMatches(got, p.want, `${isa} [${N}, ${C}, ${V}] ${p.dtype} ${p.reduction}`);
      }
    });
});

test('under bf16 precision the GEMMs round hidden, weight and the logit gradient to bf16 (every path); loss f32', () => {
  // Mixed precision as autocast runs the LM head: loss = the float64 loss of the bf16-rounded operands (products
  // exact, f32 sums); the gradients' GEMMs also round the f32 softmax gradient g: |g - bf16(g)| <= 2^-9 |g|, and
  // sum_v |g_iv| <= 2 per row at coefficient 1 (softmax + one-hot), so |d dHidden| <= 2^-9 * 2 * max|w|, and
  // |d dWeight[v]| <= 2^-9 * max|h| * sum_i |g_iv| <= 2^-9 * max|h| * 2N.
  // Every side above 16 (27 counted rows): smaller products stay f32 on the SIMD paths (gemm.h).
  const rng = new Rng(35);
  const c = makeCase(rng, 40, 24, 37);
  const round = (x: Float32Array) => Tensor.from(x, [x.length]).to('bf16').toFloat32Array();
  const rounded: Case = { ...c, hidden: { f32: round(c.hidden.f32), f64: Float64Array.from(round(c.hidden.f32)) } };
  rounded.weight = round(c.weight);
  const want = reference(rounded, 'f32', 'sum', 1);
  const f32 = runNative(c, 'f32', 'sum', 1);
  for (const cap of bf16Caps())
    withBf16Cap(cap, () => {
      const got = withMatmulPrecision('bf16', () => runNative(c, 'f32', 'sum', 1));
      assertClose(got.loss, want.loss, { atol: 1e-5, rtol: 1e-5 }, `${cap} loss`);
      assertClose(got.dHidden, want.dHidden, { atol: 2 ** -9 * 2 * 1.5 + 1e-5, rtol: 0 }, `${cap} dHidden`);
      assertClose(got.dWeight!, want.dWeight, { atol: 2 ** -9 * 1.5 * 2 * c.N + 1e-5, rtol: 0 }, `${cap} dWeight`);
      // ... and not the f32 computation: the rounding moves the loss by far more than f32 sums do.
      assert.ok(Math.abs(got.loss[0]! - f32.loss[0]!) > 1e-4, `${cap}: bf16 loss ${got.loss[0]} equals f32's`);
    });
});

test('linearCrossEntropy reference gradients match finite differences (hidden and weight)', () => {
  const rng = new Rng(32);
  const c = makeCase(rng, 5, 3, 7);
  const shape = { N: c.N, C: c.C, V: c.V };
  const w = Float64Array.from(c.weight);
  const g = rng.floats(c.N).f64;
  const count = c.labels.filter((y) => y !== -100).length;
  const rows = linearCrossEntropyBackwardRef(c.hidden.f64, w, c.labels, g, shape);
  assertGradient(
    (h) => dot(linearCrossEntropyRowsRef(h, w, c.labels, shape), g),
    c.hidden.f64,
    rows.dHidden,
    {},
    'd rows / d hidden',
  );
  assertGradient(
    (x) => dot(linearCrossEntropyRowsRef(c.hidden.f64, x, c.labels, shape), g),
    w,
    rows.dWeight,
    {},
    'd rows / d weight',
  );
  const mean = linearCrossEntropyBackwardRef(c.hidden.f64, w, c.labels, new Float64Array(c.N).fill(1 / count), shape);
  assertGradient(
    (h) => linearCrossEntropyRef(h, w, c.labels, shape),
    c.hidden.f64,
    mean.dHidden,
    {},
    'd mean / d hidden',
  );
  assertGradient(
    (x) => linearCrossEntropyRef(c.hidden.f64, x, c.labels, shape),
    w,
    mean.dWeight,
    {},
    'd mean / d weight',
  );
});

test('linearCrossEntropy inside a graph: upstream ops get the scaled gradient (end-to-end autograd)', () => {
  const c = makeCase(new Rng(33), 6, 4, 11);
  const want = reference(c, 'f32', 'sum', 0.5 * 3);
  scope(() => {
    const x = Tensor.from(
      c.hidden.f32.map((v) => v / 2),
      [c.N, c.C],
    ).requiresGrad_();
    const w = Tensor.from(c.weight, [c.V, c.C]).requiresGrad_();
    // loss = 3 * LCE(2 x): d/dx = 2 * 3 * dLCE/dhidden; d/dw = 3 * dLCE/dw
    const loss = scale(
      linearCrossEntropy(scale(x, 2), w, Tensor.from(c.labels, [c.N], 'i32'), { reduction: 'sum' }),
      3,
    );
    loss.backward(Tensor.scalar(0.5));
    assertClose(
      takeGrad(x),
      want.dHidden.map((v) => 2 * v),
      { atol: 1e-6, rtol: 1e-5 },
      'dx',
    );
    assertClose(takeGrad(w), want.dWeight, { atol: 1e-6, rtol: 1e-5 }, 'dw');
  });
});

test('linearCrossEntropy is bit-identical with 1 and 2 threads across chunks', () => {
  const big = PREPARED.filter((p) => p.c.V === BIG_V && p.dtype === 'f32');
  for (const p of big) {
    const one = withThreads(1, () => runNative(p.c, p.dtype, p.reduction, p.up));
    const two = withThreads(2, () => runNative(p.c, p.dtype, p.reduction, p.up));
    assert.deepEqual(two, one, `${p.reduction}: 1 vs 2 threads`);
  }
});

test('linearCrossEntropy: all rows ignored gives loss 0 and zero gradients, not NaN', () => {
  const c = makeCase(new Rng(34), 4, 3, 9, 1);
  c.labels.fill(-100);
  for (const reduction of ['mean', 'sum', 'none'] as const) {
    const got = runNative(c, 'f32', reduction, reduction === 'none' ? new Float32Array(c.N).fill(1) : 1);
    assert.ok(
      got.loss.every((v) => v === 0),
      `${reduction} loss`,
    );
    assert.ok(
      got.dHidden.every((v) => v === 0),
      `${reduction} dHidden`,
    );
    assert.ok(
      got.dWeight?.every((v) => v === 0),
      `${reduction} dWeight`,
    );
  }
});

test('linearCrossEntropy skips gradient GEMMs it does not need (noGrad, frozen weight)', () => {
  const c = makeCase(new Rng(35), 20, 8, 300);
  scope(() => {
    const labels = Tensor.from(c.labels, [c.N], 'i32');
    const h = Tensor.from(c.hidden.f32, [c.N, c.C]).requiresGrad_();
    const w = Tensor.from(c.weight, [c.V, c.C]);
    const calls = (fn: () => void) => {
      const before = gemmCallCount();
      fn();
      return gemmCallCount() - before;
    };
    // One chunk here: logits only without grad; + dh with a frozen weight; + dW when the weight trains.
    assert.equal(
      calls(() => noGrad(() => linearCrossEntropy(h, w, labels))),
      1,
    );
    assert.equal(
      calls(() => linearCrossEntropy(h, w, labels).backward()),
      2,
    );
    w.requiresGrad_();
    assert.equal(
      calls(() => linearCrossEntropy(h, w, labels).backward()),
      3,
    );
    const inference = noGrad(() => linearCrossEntropy(h, w, labels));
    assert.equal(inference.requiresGrad, false);
  });
});

test('linearCrossEntropy checks shapes and labels with messages that say what to fix', () => {
  scope(() => {
    const h = Tensor.zeros([3, 4]);
    const w = Tensor.zeros([5, 4]);
    assert.throws(
      () => linearCrossEntropy(h, Tensor.zeros([5, 3]), Tensor.from([0, 1, 2], [3], 'i32')),
      /must share C/,
    );
    assert.throws(
      () => linearCrossEntropy(h, w, Tensor.from([0, 5, 1], [3], 'i32')),
      /labels\[1\] = 5 is outside the vocabulary \[0, 5\)/,
    );
    assert.throws(() => linearCrossEntropy(h, w, Tensor.from([0, 1], [2], 'i32')), /labels must be i32 \[3\]/);
    const uniform = linearCrossEntropy(h, w, Tensor.from([-7, 2, 1], [3], 'i32'), { ignoreIndex: -7 });
    assertClose([uniform.item()], [Math.log(5)], { atol: 1e-6 }, 'uniform logits');
  });
});

test('linearCrossEntropy leaks nothing over forward/backward steps', () => {
  const c = makeCase(new Rng(36), 8, 5, 50);
  runNative(c, 'f32', 'mean', 1);
  const base = liveBytes();
  for (let i = 0; i < 3; i++) {
    runNative(c, 'f32', 'sum', 1);
    runNative(c, 'bf16', 'none', new Float32Array(c.N).fill(1));
  }
  scope(() => {
    noGrad(() =>
      linearCrossEntropy(
        Tensor.from(c.hidden.f32, [c.N, c.C]),
        Tensor.from(c.weight, [c.V, c.C]),
        Tensor.from(c.labels, [c.N], 'i32'),
      ),
    );
  });
  assert.equal(liveBytes(), base);
});
