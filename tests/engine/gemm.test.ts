import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type DType,
  gemmCallCount,
  gemmInto,
  linear,
  liveBytes,
  matmul,
  native,
  scope,
  Tensor,
} from '../../src/engine/index.js';
import {
  gemmRef,
  linearBackwardRef,
  linearRef,
  matmulBackwardRef,
  matmulRef,
} from '../../src/engine/reference/matmul.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { assertGradient, dot } from '../util/gradcheck.js';
import { Rng } from '../util/random.js';

type Isa = 'portable' | 'avx2' | 'avx512';
const FLOAT_DTYPES: DType[] = ['f32', 'bf16', 'f16'];

/** The ISA paths this CPU can run, each to be checked against the reference. */
function isas(): Isa[] {
  const f = native.cpuFeatures();
  return ['portable', ...(f.avx2Fma ? ['avx2' as const] : []), ...(f.avx512 && f.avx2Fma ? ['avx512' as const] : [])];
}

function withIsa<T>(isa: Isa, fn: () => T): T {
  const prev = native.isa();
  assert.equal(native.setIsa(isa), isa);
  try {
    return fn();
  } finally {
    native.setIsa(prev);
  }
}

/** Random values stored as dtype, and their exact (dtype-rounded) float64 copy for the reference. */
function stored(rng: Rng, n: number, dtype: DType): { t: Tensor; f64: Float64Array } {
  const t = Tensor.from(rng.floats(n).f32, [n], dtype);
  return { t, f64: Float64Array.from(t.toFloat32Array()) };
}

/** f32 sums of K products: error grows like sqrt(K) ulps of the terms (|values| <= 1). */
const tol = (k: number) => ({ atol: 2e-6 * Math.sqrt(k + 1), rtol: 1e-5 });

test('gemm matches the float64 reference for every transpose, dtype pair and ISA on odd and round shapes', () => {
  const rng = new Rng(11);
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 37, 20],
    [29, 1, 20],
    [7, 33, 1],
    [3, 7, 5],
    [15, 33, 17],
    [14, 32, 16],
    [40, 65, 577],
  ];
  for (const [m, n, k] of shapes)
    for (const transA of [false, true])
      for (const transB of [false, true])
        for (const da of FLOAT_DTYPES)
          for (const db of FLOAT_DTYPES)
            scope(() => {
              const a = stored(rng, m * k, da);
              const b = stored(rng, k * n, db);
              const c0 = rng.floats(m * n);
              const args = { m, n, k, transA, transB, alpha: 0.75, beta: -0.5 };
              const want = gemmRef(a.f64, b.f64, { ...args, c: c0.f64 });
              for (const isa of isas())
                withIsa(isa, () => {
                  const c = Tensor.from(c0.f32, [m, n]);
                  gemmInto(a.t, b.t, c, args);
                  assertClose(
                    c.toFloat32Array(),
                    want,
                    tol(k),
                    `${isa} ${m}x${n}x${k} tA=${transA} tB=${transB} ${da}@${db}`,
                  );
                });
            });
});

test('gemm on a large-ish shape (257 x 129 x 300) for every transpose pair and ISA, beta = 0 ignores NaN in C', () => {
  const rng = new Rng(12);
  const [m, n, k] = [257, 129, 300];
  scope(() => {
    const a = stored(rng, m * k, 'f32');
    const b = stored(rng, k * n, 'f32');
    for (const transA of [false, true])
      for (const transB of [false, true]) {
        const want = gemmRef(a.f64, b.f64, { m, n, k, transA, transB });
        for (const isa of isas())
          withIsa(isa, () => {
            const c = Tensor.from(new Float32Array(m * n).fill(Number.NaN), [m, n]);
            gemmInto(a.t, b.t, c, { m, n, k, transA, transB });
            assertClose(c.toFloat32Array(), want, tol(k), `${isa} tA=${transA} tB=${transB}`);
          });
      }
  });
});

test('batched gemm: per-item and shared B, summing into one C (strideC = 0), bias, K = 0', () => {
  const rng = new Rng(13);
  const [batch, m, n, k] = [3, 9, 21, 35];
  scope(() => {
    const a = stored(rng, batch * m * k, 'f32');
    const b = stored(rng, batch * k * n, 'bf16');
    const bias = rng.floats(n);
    for (const isa of isas())
      withIsa(isa, () => {
        for (const shared of [false, true]) {
          const c = Tensor.zeros([batch, m, n]);
          gemmInto(a.t, b.t, c, { m, n, k, batch, transB: true, strideB: shared ? 0 : k * n });
          const want = new Float64Array(batch * m * n);
          for (let i = 0; i < batch; i++) {
            const bi = shared ? b.f64.subarray(0, k * n) : b.f64.subarray(i * k * n, (i + 1) * k * n);
            want.set(gemmRef(a.f64.subarray(i * m * k, (i + 1) * m * k), bi, { m, n, k, transB: true }), i * m * n);
          }
          assertClose(c.toFloat32Array(), want, tol(k), `${isa} shared=${shared}`);
        }
        // strideC = 0: C = 2 * C + bias + sum over items of A_i @ B_i
        const c0 = rng.floats(m * n);
        const c = Tensor.from(c0.f32, [m, n]);
        gemmInto(a.t, b.t, c, { m, n, k, batch, transB: true, beta: 2, strideC: 0, bias: Tensor.from(bias.f32, [n]) });
        const want = gemmRef(a.f64.subarray(0, m * k), b.f64.subarray(0, k * n), {
          m,
          n,
          k,
          transB: true,
          beta: 2,
          c: c0.f64,
          bias: bias.f64,
        });
        for (let i = 1; i < batch; i++) {
          const ci = gemmRef(a.f64.subarray(i * m * k, (i + 1) * m * k), b.f64.subarray(i * k * n, (i + 1) * k * n), {
            m,
            n,
            k,
            transB: true,
          });
          for (let j = 0; j < m * n; j++) want[j] = (want[j] as number) + (ci[j] as number);
        }
        assertClose(c.toFloat32Array(), want, tol(batch * k), `${isa} strideC = 0`);
        // K = 0: only beta * C + bias
        const e = Tensor.from(c0.f32, [m, n]);
        gemmInto(a.t, b.t, e, { m, n, k: 0, beta: 0.5, bias: Tensor.from(bias.f32, [n]) });
        assertClose(
          e.toFloat32Array(),
          c0.f64.map((v, j) => 0.5 * v + (bias.f64[j % n] as number)),
          { atol: 1e-6, rtol: 1e-6 },
          `${isa} K = 0`,
        );
      });
  });
});

/** Shapes with one side in {1, 3, 8, 13, 16, 17} (a LoRA rank and its neighbours) against longer odd sides. */
function rankSidedShapes(): [number, number, number][] {
  const shapes: [number, number, number][] = [];
  for (const s of [1, 3, 8, 13, 16, 17]) shapes.push([101, s, 37], [s, 75, 37], [33, 70, s]);
  shapes.push([101, 8, 3], [13, 8, 50], [9, 13, 200], [16, 16, 16]);
  return shapes;
}

test('gemm with a side of 1-17 (narrow N, skinny M, short K) matches the reference: transposes, dtypes, beta, bias', () => {
  const rng = new Rng(21);
  const dtypePairs: [DType, DType][] = [
    ['f32', 'f32'],
    ['bf16', 'f32'],
    ['f32', 'f16'],
    ['f16', 'bf16'],
  ];
  let variant = 0;
  for (const [m, n, k] of rankSidedShapes())
    for (const transA of [false, true])
      for (const transB of [false, true])
        for (const [da, db] of dtypePairs)
          scope(() => {
            // beta cycles 0 (C holds NaN: never read), 1 and -0.5; every other case adds a bias.
            const beta = [0, 1, -0.5][variant % 3] as number;
            const withBias = variant++ % 2 === 0;
            const a = stored(rng, m * k, da);
            const b = stored(rng, k * n, db);
            const c0 = rng.floats(m * n);
            const bias = rng.floats(n);
            const args = { m, n, k, transA, transB, alpha: 0.75, beta };
            const want = gemmRef(a.f64, b.f64, { ...args, c: c0.f64, bias: withBias ? bias.f64 : undefined });
            for (const isa of isas())
              withIsa(isa, () => {
                const c = Tensor.from(beta === 0 ? new Float32Array(m * n).fill(Number.NaN) : c0.f32, [m, n]);
                gemmInto(a.t, b.t, c, { ...args, bias: withBias ? Tensor.from(bias.f32, [n]) : undefined });
                const label = `${isa} ${m}x${n}x${k} tA=${transA} tB=${transB} ${da}@${db} beta=${beta} bias=${withBias}`;
                assertClose(c.toFloat32Array(), want, tol(k), label);
              });
          });
});

test('narrow and skinny gemm batched: per-item and shared operands, summing into one C (strideC = 0) with bias', () => {
  const rng = new Rng(22);
  const batch = 3;
  const cases = [
    { m: 70, n: 8, k: 40, transA: false, transB: true }, // x @ A^T into the rank
    { m: 70, n: 5, k: 40, transA: true, transB: false }, // a LoRA B gradient
    { m: 8, n: 70, k: 40, transA: true, transB: false }, // a LoRA A gradient
    { m: 6, n: 70, k: 40, transA: false, transB: true },
  ];
  for (const s of cases)
    scope(() => {
      const { m, n, k } = s;
      const a = stored(rng, batch * m * k, 'f32');
      const b = stored(rng, batch * k * n, 'bf16');
      const bias = rng.floats(n);
      const c0 = rng.floats(m * n);
      const item = (i: number, shared: boolean, extra = {}) =>
        gemmRef(
          a.f64.subarray(i * m * k, (i + 1) * m * k),
          shared ? b.f64.subarray(0, k * n) : b.f64.subarray(i * k * n, (i + 1) * k * n),
          { ...s, ...extra },
        );
      for (const isa of isas())
        withIsa(isa, () => {
          for (const shared of [false, true]) {
            const c = Tensor.zeros([batch, m, n]);
            gemmInto(a.t, b.t, c, { ...s, batch, strideB: shared ? 0 : k * n });
            const want = new Float64Array(batch * m * n);
            for (let i = 0; i < batch; i++) want.set(item(i, shared), i * m * n);
            assertClose(c.toFloat32Array(), want, tol(k), `${isa} ${JSON.stringify(s)} shared=${shared}`);
          }
          // strideC = 0: C = 2 * C + bias + sum over items of op(A_i) @ op(B_i)
          const c = Tensor.from(c0.f32, [m, n]);
          gemmInto(a.t, b.t, c, { ...s, batch, beta: 2, strideC: 0, bias: Tensor.from(bias.f32, [n]) });
          const want = item(0, false, { beta: 2, c: c0.f64, bias: bias.f64 });
          for (let i = 1; i < batch; i++) {
            const ci = item(i, false);
            for (let j = 0; j < m * n; j++) want[j] = (want[j] as number) + (ci[j] as number);
          }
          assertClose(c.toFloat32Array(), want, tol(batch * k), `${isa} ${JSON.stringify(s)} strideC = 0`);
        });
    });
});

test('1 thread and 2 threads give bitwise identical results (split by rows, columns, batch items; skinny M, narrow N)', () => {
  const rng = new Rng(14);
  const cases = [
    { m: 300, n: 70, k: 401, batch: 1, transA: false, transB: true }, // rows
    { m: 45, n: 530, k: 390, batch: 1, transA: true, transB: false }, // columns
    { m: 33, n: 65, k: 129, batch: 4, transA: false, transB: false }, // items
    { m: 3, n: 2000, k: 300, batch: 1, transA: false, transB: true }, // skinny (decoding), by columns
    { m: 13, n: 1500, k: 300, batch: 1, transA: true, transB: false }, // skinny (a LoRA A gradient), by columns
    { m: 1000, n: 8, k: 300, batch: 1, transA: false, transB: true }, // narrow (x @ A^T), by rows
    { m: 900, n: 13, k: 200, batch: 1, transA: true, transB: false }, // narrow (a LoRA B gradient), by rows
  ];
  for (const isa of isas())
    withIsa(isa, () => {
      for (const s of cases)
        scope(() => {
          const a = stored(rng, s.batch * s.m * s.k, 'f32');
          const b = stored(rng, s.batch * s.k * s.n, 'f16');
          const run = () => {
            const c = Tensor.empty([s.batch * s.m * s.n]);
            gemmInto(a.t, b.t, c, s);
            return c.toFloat32Array();
          };
          assert.deepEqual(withThreads(1, run), withThreads(2, run), `${isa} ${JSON.stringify(s)}`);
        });
    });
});

const MATMUL_CASES = [
  { lead: [] as number[], m: 5, n: 7, k: 9, shared: false },
  { lead: [2, 3], m: 4, n: 6, k: 5, shared: false },
  { lead: [3], m: 4, n: 6, k: 5, shared: true },
];

test('matmul forward and backward match the reference for every transpose pair, batched and shared b', () => {
  const rng = new Rng(15);
  for (const c of MATMUL_CASES)
    for (const transA of [false, true])
      for (const transB of [false, true])
        for (const bDtype of ['f32', 'f16'] as const)
          scope(() => {
            const batch = c.lead.reduce((x, y) => x * y, 1);
            const aShape = [...c.lead, ...(transA ? [c.k, c.m] : [c.m, c.k])];
            const bShape = [...(c.shared ? [] : c.lead), ...(transB ? [c.n, c.k] : [c.k, c.n])];
            const a = rng.floats(batch * c.m * c.k);
            const b = stored(rng, (c.shared ? 1 : batch) * c.k * c.n, bDtype);
            const g = rng.floats(batch * c.m * c.n);
            const ta = Tensor.from(a.f32, aShape).requiresGrad_();
            const tb = b.t.reshape(bShape).requiresGrad_(bDtype === 'f32'); // a half-precision b is a frozen weight
            const out = matmul(ta, tb, { transA, transB });
            assert.deepEqual(out.shape, [...c.lead, c.m, c.n]);
            const shape = { batch, m: c.m, n: c.n, k: c.k, transA, transB, bShared: c.shared };
            const label = `${JSON.stringify(c)} tA=${transA} tB=${transB} b ${bDtype}`;
            assertClose(out.toFloat32Array(), matmulRef(a.f64, b.f64, shape), tol(c.k), `${label} forward`);
            out.backward(Tensor.from(g.f32, out.shape));
            const ref = matmulBackwardRef(a.f64, b.f64, g.f64, shape);
            assertClose(ta.grad?.toFloat32Array() ?? [], ref.da, tol(c.n), `${label} da`);
            if (bDtype === 'f32') assertClose(tb.grad?.toFloat32Array() ?? [], ref.db, tol(batch * c.m), `${label} db`);
            else assert.equal(tb.grad, null, `${label}: frozen b has no gradient`);
            ta.grad?.dispose();
            tb.grad?.dispose();
          });
});

test('matmul reference backward matches finite differences', () => {
  const rng = new Rng(16);
  for (const transA of [false, true])
    for (const transB of [false, true]) {
      const shape = { batch: 2, m: 3, n: 4, k: 5, transA, transB, bShared: true };
      const a = rng.floats(2 * 3 * 5).f64;
      const b = rng.floats(5 * 4).f64;
      const w = rng.floats(2 * 3 * 4).f64;
      const { da, db } = matmulBackwardRef(a, b, w, shape);
      assertGradient((x) => dot(matmulRef(x, b, shape), w), a, da, {}, `da tA=${transA} tB=${transB}`);
      assertGradient((x) => dot(matmulRef(a, x, shape), w), b, db, {}, `db tA=${transA} tB=${transB}`);
    }
});

test('linear forward and backward match the reference (3-D x, bias, f32/bf16/f16 weight)', () => {
  const rng = new Rng(17);
  const [lead, n, k] = [[2, 7], 13, 19];
  const m = 14;
  for (const wd of FLOAT_DTYPES)
    scope(() => {
      const x = rng.floats(m * k);
      const w = stored(rng, n * k, wd);
      const bias = rng.floats(n);
      const g = rng.floats(m * n);
      const tx = Tensor.from(x.f32, [...lead, k]).requiresGrad_();
      const tw = w.t.reshape([n, k]).requiresGrad_(wd === 'f32');
      const tbias = Tensor.from(bias.f32, [n]).requiresGrad_();
      const out = linear(tx, tw, tbias);
      assert.deepEqual(out.shape, [...lead, n]);
      assertClose(out.toFloat32Array(), linearRef(x.f64, w.f64, m, n, k, bias.f64), tol(k), `${wd} forward`);
      out.backward(Tensor.from(g.f32, out.shape));
      const ref = linearBackwardRef(x.f64, w.f64, g.f64, m, n, k);
      assertClose(tx.grad?.toFloat32Array() ?? [], ref.dx, tol(n), `${wd} dx`);
      if (wd === 'f32') assertClose(tw.grad?.toFloat32Array() ?? [], ref.dw, tol(m), 'dw');
      else assert.equal(tw.grad, null, 'a frozen bf16/f16 weight gets no gradient');
      assertClose(tbias.grad?.toFloat32Array() ?? [], ref.db, tol(m), `${wd} db`);
      for (const t of [tx, tw, tbias]) t.grad?.dispose();
    });
});

test('linear reference backward matches finite differences', () => {
  const rng = new Rng(18);
  const [m, n, k] = [3, 4, 5];
  const x = rng.floats(m * k).f64;
  const w = rng.floats(n * k).f64;
  const bias = rng.floats(n).f64;
  const g = rng.floats(m * n).f64;
  const ref = linearBackwardRef(x, w, g, m, n, k);
  assertGradient((v) => dot(linearRef(v, w, m, n, k, bias), g), x, ref.dx, {}, 'dx');
  assertGradient((v) => dot(linearRef(x, v, m, n, k, bias), g), w, ref.dw, {}, 'dw');
  assertGradient((v) => dot(linearRef(x, w, m, n, k, v), g), bias, ref.db, {}, 'db');
});

test('a frozen weight gets no gradient and runs no weight-gradient GEMM', () => {
  const rng = new Rng(19);
  scope(() => {
    const x = Tensor.from(rng.floats(6 * 8).f32, [6, 8]).requiresGrad_();
    const frozen = Tensor.from(rng.floats(5 * 8).f32, [5, 8], 'bf16');
    const trainable = Tensor.from(rng.floats(5 * 8).f32, [5, 8]).requiresGrad_();
    const gemmsFor = (fn: () => Tensor) => {
      const before = gemmCallCount();
      fn().backward(Tensor.from(new Float32Array(6 * 5).fill(1), [6, 5]));
      return gemmCallCount() - before;
    };
    assert.equal(
      gemmsFor(() => linear(x, frozen)),
      2,
      'linear, frozen W: forward + dx only',
    );
    assert.equal(
      gemmsFor(() => linear(x, trainable)),
      3,
      'linear, trainable W: forward + dx + dW',
    );
    assert.equal(
      gemmsFor(() => matmul(x, frozen, { transB: true })),
      2,
      'matmul, frozen b: forward + da only',
    );
    assert.equal(frozen.grad, null);
    assert.ok(trainable.grad);
    x.grad?.dispose();
    trainable.grad?.dispose();
  });
});

test('linear: bias gradient is thread-count independent and nothing leaks', () => {
  const rng = new Rng(20);
  const [m, n, k] = [700, 300, 16];
  const x = rng.floats(m * k);
  const w = rng.floats(n * k);
  const step = () =>
    scope(() => {
      const bias = Tensor.zeros([n]).requiresGrad_();
      const out = linear(Tensor.from(x.f32, [m, k]), Tensor.from(w.f32, [n, k]), bias);
      out.backward(out.detach());
      const db = bias.grad?.toFloat32Array() ?? new Float32Array();
      bias.grad?.dispose();
      return db;
    });
  assert.deepEqual(withThreads(1, step), withThreads(2, step));
  step();
  const base = liveBytes();
  for (let i = 0; i < 5; i++) step();
  assert.equal(liveBytes(), base);
});
