// The 16-bit-weight decoding product (native/src/kernels/gemv16.cc): x [M <= 8, K] @ W^T for W stored bf16 or f16
// [N, K], reached through the GEMM with transB. Exact form (W widened in registers, f32 FMAs) on every ISA against
// float64; bf16 dot form (x rounded to bf16, vdpbf16ps) under bf16 compute against the float64 product of the
// rounded x; both independent of the thread count.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DType, gemmInto, scope, Tensor } from '../../src/engine/index.js';
import { gemmRef } from '../../src/engine/reference/matmul.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { availableIsas, bf16Caps, withBf16Cap, withIsa } from '../util/isa.js';
import { Rng } from '../util/random.js';

/** f32 sums of K products of values in [-1, 1]: the GEMM tests' bound. */
const tol = (k: number) => ({ atol: 2e-6 * Math.sqrt(k + 1), rtol: 1e-5 });

/** Round to the nearest bf16, ties to even. */
function bf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) & 0xffff0000) >>> 0;
  return f[0]!;
}

function stored(rng: Rng, n: number, dtype: DType) {
  const t = Tensor.from(rng.floats(n).f32, [n], dtype);
  return { t, f64: Float64Array.from(t.toFloat32Array()) };
}

// K: below one vector, one vector's tail, whole 32-steps, steps + tails of 16 and 8; N: below and across the
// register blocks (8/4/2 rows) and thread units (16 rows).
const SHAPES: [number, number][] = [
  [1, 1],
  [17, 7],
  [45, 31],
  [130, 33],
  [33, 100],
  [19, 577],
];

function product(
  x: Tensor,
  w: Tensor,
  c0: Float32Array,
  bias: Tensor | undefined,
  m: number,
  n: number,
  k: number,
  bf: boolean,
) {
  const c = Tensor.from(c0, [m, n]);
  gemmInto(x, w, c, { m, n, k, transB: true, alpha: 0.75, beta: -0.5, bias, precision: bf ? 'bf16' : 'f32' });
  return c.toFloat32Array();
}

test('x @ W^T with bf16 and f16 W, 1..8 rows, odd shapes, bias, alpha/beta: float64 within f32 summation error on every ISA', () => {
  const rng = new Rng(41);
  for (const dtype of ['bf16', 'f16'] as const)
    for (const [n, k] of SHAPES)
      for (let m = 1; m <= 8; m++)
        scope(() => {
          const x = stored(rng, m * k, 'f32');
          const w = stored(rng, n * k, dtype);
          const c0 = rng.floats(m * n);
          const bias = rng.floats(n);
          const args = { m, n, k, transB: true, alpha: 0.75, beta: -0.5 };
          const want = gemmRef(x.f64, w.f64, { ...args, c: c0.f64 });
          for (let j = 0; j < m * n; j++) want[j]! += bias.f64[j % n]!;
          const biasT = Tensor.from(bias.f32, [n]);
          for (const isa of availableIsas())
            withIsa(isa, () =>
              assertClose(
                product(x.t, w.t, c0.f32, biasT, m, n, k, false),
                want,
                tol(k),
                `${isa} ${dtype} ${m}x${n}x${k}`,
              ),
            );
        });
});

test('bf16 compute with bf16 W: the products of bf16-rounded x and W summed in f32, on every bf16 path', () => {
  const rng = new Rng(42);
  // N > M throughout: with N <= 16 and N <= M the GEMM takes its narrow path (f32 products) instead.
  for (const [n, k] of SHAPES.filter(([n]) => n > 8))
    for (const m of [1, 2, 3, 5, 8])
      scope(() => {
        const x = stored(rng, m * k, 'f32');
        const w = stored(rng, n * k, 'bf16');
        const c0 = rng.floats(m * n);
        const args = { m, n, k, transB: true, alpha: 0.75, beta: -0.5 };
        const rounded = gemmRef(x.f64.map(bf16), w.f64, { ...args, c: c0.f64 });
        const exact = gemmRef(x.f64, w.f64, { ...args, c: c0.f64 });
        for (const cap of bf16Caps())
          withBf16Cap(cap, () => {
            const got = product(x.t, w.t, c0.f32, undefined, m, n, k, true);
            // AVX512_BF16 rounds x; the widening paths keep x in f32 (the skinny GEMM's f32 product).
            assertClose(got, cap === 'avx512bf16' ? rounded : exact, tol(k), `${cap} ${m}x${n}x${k}`);
          });
      });
});

test('the 16-bit decoding product gives the same bits on 1 and 2 threads (N split in whole row units)', () => {
  const rng = new Rng(43);
  const [n, k] = [301, 577];
  for (const dtype of ['bf16', 'f16'] as const)
    for (const m of [1, 4, 8])
      for (const bf of [false, true])
        scope(() => {
          const x = stored(rng, m * k, 'f32');
          const w = stored(rng, n * k, dtype);
          const c0 = rng.floats(m * n).f32;
          const one = withThreads(1, () => product(x.t, w.t, c0, undefined, m, n, k, bf));
          const two = withThreads(2, () => product(x.t, w.t, c0, undefined, m, n, k, bf));
          assert.deepEqual(two, one, `${dtype} m=${m} bf16=${bf}`);
        });
});
