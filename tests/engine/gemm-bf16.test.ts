// bf16 compute (issue #12 item 4): a bf16 GEMM is the f32-accumulated product of bf16-rounded operands, on the
// AVX512_BF16 instructions where the CPU has them and on every other path by widening; against the f32 GEMM it
// differs by at most the operands' bf16 rounding, a bound this file states and checks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type DType,
  gemmInto,
  getMatmulPrecision,
  linear,
  native,
  scope,
  Tensor,
  withMatmulPrecision,
} from '../../src/engine/index.js';
import { gemmRef } from '../../src/engine/reference/matmul.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { availableIsas } from '../util/isa.js';
import { Rng } from '../util/random.js';

type Cap = 'portable' | 'avx2' | 'avx512' | 'avx512bf16';

/** Every bf16 path this CPU runs: the widening one per ISA, and AVX512_BF16 when present. */
function caps(): Cap[] {
  const out: Cap[] = availableIsas();
  if (native.cpuFeatures().avx512Bf16 && out.includes('avx512')) out.push('avx512bf16');
  return out;
}

function withCap<T>(cap: Cap, fn: () => T): T {
  const prev: Cap = native.bf16Instructions() ? 'avx512bf16' : native.isa();
  native.setIsa(cap);
  try {
    assert.equal(native.bf16Instructions(), cap === 'avx512bf16', `bf16 instructions under ${cap}`);
    return fn();
  } finally {
    native.setIsa(prev);
  }
}

/** Round to the nearest bf16, ties to even (what both paths do to each operand). */
function bf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) & 0xffff0000) >>> 0;
  return f[0]!;
}

function stored(rng: Rng, n: number, dtype: DType) {
  const t = Tensor.from(rng.floats(n).f32, [n], dtype);
  const exact = Float64Array.from(t.toFloat32Array());
  return { t, exact, rounded: exact.map(bf16) };
}

/** |sum of products| bound per element: sum over k of |a||b| (the scale f32 summation errors are relative to). */
function magnitudes(
  a: Float64Array,
  b: Float64Array,
  args: { m: number; n: number; k: number; transA: boolean; transB: boolean },
) {
  return gemmRef(a.map(Math.abs), b.map(Math.abs), {
    ...args,
    alpha: 1,
    beta: 0,
    c: new Float64Array(args.m * args.n),
  });
}

const shapes: [number, number, number][] = [
  [17, 33, 1],
  [17, 33, 2],
  [29, 45, 31],
  [18, 32, 16],
  [40, 70, 577],
  [100, 96, 800],
];

test('a bf16 GEMM equals the float64 product of bf16-rounded operands on every path, odd shapes and transposes', () => {
  const rng = new Rng(3);
  for (const [m, n, k] of shapes)
    for (const transA of [false, true])
      for (const transB of [false, true])
        for (const [da, db] of [
          ['f32', 'f32'],
          ['f32', 'bf16'],
          ['bf16', 'f16'],
        ] as [DType, DType][])
          scope(() => {
            const a = stored(rng, m * k, da);
            const b = stored(rng, k * n, db);
            const c0 = rng.floats(m * n);
            const bias = rng.floats(n);
            const args = { m, n, k, transA, transB, alpha: 0.75, beta: -0.5 };
            const want = gemmRef(a.rounded, b.rounded, { ...args, c: c0.f64 });
            for (let j = 0; j < m * n; j++) want[j]! += bias.f64[j % n]!;
            const scale = magnitudes(a.rounded, b.rounded, args);
            for (const cap of caps())
              withCap(cap, () => {
                const c = Tensor.from(c0.f32, [m, n]);
                gemmInto(a.t, b.t, c, { ...args, bias: Tensor.from(bias.f32, [n]), precision: 'bf16' });
                const got = c.toFloat32Array();
                // Products are exact; only the f32 additions round: |error| <= ~K ulps of sum |a||b|.
                for (let j = 0; j < m * n; j++) {
                  const bound = 2 ** -23 * (k + 2) * (0.75 * scale[j]! + 1) + 1e-7;
                  assert.ok(
                    Math.abs(got[j]! - want[j]!) <= bound,
                    `${cap} ${m}x${n}x${k} tA=${transA} tB=${transB} ${da}@${db} [${j}]: ${got[j]} vs ${want[j]} (bound ${bound})`,
                  );
                }
              });
          });
});

test('against the f32 GEMM a bf16 GEMM is off by at most the bf16 rounding of its operands (2^-8 relative each)', () => {
  const rng = new Rng(5);
  for (const [m, n, k] of shapes)
    scope(() => {
      const a = stored(rng, m * k, 'f32');
      const b = stored(rng, k * n, 'f32');
      const args = { m, n, k, transA: false, transB: true };
      const scale = magnitudes(a.exact, b.exact, args);
      const f32 = Tensor.zeros([m, n]);
      gemmInto(a.t, b.t, f32, { ...args, precision: 'f32' });
      const f32v = f32.toFloat32Array();
      for (const cap of caps())
        withCap(cap, () => {
          const c = Tensor.zeros([m, n]);
          gemmInto(a.t, b.t, c, { ...args, precision: 'bf16' });
          const got = c.toFloat32Array();
          let worst = 0;
          for (let j = 0; j < m * n; j++) {
            // bf16 keeps 8 significant bits: |da| <= 2^-8 |a|, |db| <= 2^-8 |b|, so (a + da)(b + db) - ab is at
            // most ~2^-7 |a||b| per product.
            const rel = Math.abs(got[j]! - f32v[j]!) / scale[j]!;
            worst = Math.max(worst, rel);
            assert.ok(rel <= 2 ** -7 + 2 ** -15, `${cap} ${m}x${n}x${k} [${j}]: relative error ${rel}`);
          }
          // ... and it is a different computation: not the f32 product.
          if (k > 1) assert.ok(worst > 2 ** -20, `${cap} ${m}x${n}x${k}: bf16 result equals f32 (${worst})`);
        });
    });
});

test('a bf16 GEMM gives the same bits for any thread count, and NaN and Inf propagate', () => {
  const rng = new Rng(7);
  const [m, n, k] = [300, 257, 700];
  scope(() => {
    const a = stored(rng, m * k, 'f32');
    const b = stored(rng, k * n, 'bf16');
    for (const cap of caps())
      withCap(cap, () => {
        const run = (threads: number) =>
          withThreads(threads, () => {
            const c = Tensor.zeros([m, n]);
            gemmInto(a.t, b.t, c, { m, n, k, transB: true, precision: 'bf16' });
            return c.toFloat32Array();
          });
        assert.deepEqual(run(1), run(2), `${cap}: 1 vs 2 threads`);
      });
    const special = new Float32Array(16 * 16).fill(1);
    special[0] = Number.NaN;
    special[16 * 3] = Number.POSITIVE_INFINITY;
    for (const cap of caps())
      withCap(cap, () => {
        const c = Tensor.zeros([16, 16]);
        const ones = Tensor.from(new Float32Array(16 * 16).fill(1), [256]);
        gemmInto(Tensor.from(special, [256]), ones, c, { m: 16, n: 16, k: 16, precision: 'bf16' });
        const v = c.toFloat32Array();
        assert.ok(Number.isNaN(v[0]!) && Number.isNaN(v[15]!), `${cap}: NaN row`);
        assert.equal(v[16 * 3], Number.POSITIVE_INFINITY, `${cap}: Inf row`);
        assert.equal(v[16], 16, `${cap}: finite row`);
      });
  });
});

test('linear under bf16 precision: forward and both gradients within the bf16 bound of f32; the setting is scoped', () => {
  const rng = new Rng(9);
  const [rows, inF, outF] = [37, 96, 80];
  const x0 = rng.floats(rows * inF).f32;
  const w0 = rng.floats(outF * inF).f32;
  const run = (precision: 'f32' | 'bf16') =>
    withMatmulPrecision(precision, () =>
      scope(() => {
        const x = Tensor.from(x0, [rows, inF]).requiresGrad_();
        const w = Tensor.from(w0, [outF, inF]).requiresGrad_();
        const y = linear(x, w);
        y.backward(Tensor.from(new Float32Array(rows * outF).fill(1), y.shape));
        return { y: y.toFloat32Array(), gx: x.grad!.toFloat32Array(), gw: w.grad!.toFloat32Array() };
      }),
    );
  const f = run('f32');
  const h = run('bf16');
  assert.equal(getMatmulPrecision(), 'f32', 'withMatmulPrecision restores the setting');
  // |x|, |w| <= 1: a sum of K products moves by at most ~2^-8 K; gradients of sum(y) are sums of inputs (one
  // operand is all ones, exact in bf16), so they move by 2^-9 per term.
  assertClose(h.y, f.y, { atol: 2 ** -8 * inF, rtol: 0 }, 'y');
  assertClose(h.gx, f.gx, { atol: 2 ** -9 * outF, rtol: 0 }, 'dx');
  assertClose(h.gw, f.gw, { atol: 2 ** -9 * rows, rtol: 0 }, 'dw');
  assert.notDeepEqual(h.y, f.y, 'bf16 precision changed the forward');
});

test('products with a side of at most 16 (decoding, LoRA ranks) stay f32 under bf16 precision on SIMD paths, but for decoding a bf16 weight on AVX512_BF16', () => {
  // (The portable path has no unpacked products: there every product rounds, as the first test checks.) Decoding
  // x [M <= 8, K] @ W^T with W stored bf16 takes vdpbf16ps where the CPU has it (kernels/gemv16.h): x rounded.
  const rng = new Rng(13);
  for (const [m, n, k, transB] of [
    [1, 300, 200, true],
    [8, 300, 200, false],
    [300, 8, 200, true],
    [300, 16, 64, false],
  ] as [number, number, number, boolean][])
    scope(() => {
      const a = stored(rng, m * k, 'f32');
      const b = stored(rng, k * n, 'bf16');
      for (const cap of caps().filter((c) => c !== 'portable'))
        withCap(cap, () => {
          const run = (precision: 'f32' | 'bf16') => {
            const c = Tensor.zeros([m, n]);
            gemmInto(a.t, b.t, c, { m, n, k, transB, precision });
            return c.toFloat32Array();
          };
          if (cap === 'avx512bf16' && transB && m <= 8) {
            const want = gemmRef(a.exact.map(bf16), b.exact, { m, n, k, transB });
            assertClose(run('bf16'), want, { atol: 2e-6 * Math.sqrt(k + 1), rtol: 1e-5 }, `${cap} ${m}x${n}x${k}`);
            assert.notDeepEqual(run('bf16'), run('f32'), `${cap} ${m}x${n}x${k} rounds x`);
          } else assert.deepEqual(run('bf16'), run('f32'), `${cap} ${m}x${n}x${k}`);
        });
    });
});
