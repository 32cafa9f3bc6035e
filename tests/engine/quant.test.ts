import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  dynamicMap,
  FP4_CODE,
  linear,
  NF4_CODE,
  QuantizedMatrix,
  type QuantType,
  quantizedLinear,
  scope,
  sumAll,
  Tensor,
  withMatmulPrecision,
} from '../../src/engine/index.js';
import { gemmRef } from '../../src/engine/reference/matmul.js';
import { quantize4bitRef, quantizeBlockwise8Ref, quantizeInt8RowsRef } from '../../src/engine/reference/quant.js';
import { assertClose } from '../util/assert.js';
import { assertGradient, dot } from '../util/gradcheck.js';
import { availableIsas, bf16Caps, withBf16Cap, withIsa } from '../util/isa.js';
import { Rng } from '../util/random.js';

/** Weights drawn as a trained matrix's are: normal, std 0.02, a few outliers. */
function weights(rows: number, cols: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: rows * cols }, (_, i) => rng.normal() * (i % 97 === 0 ? 0.2 : 0.02));
}

/** The 4-bit indices of the packed bytes, the first value of each byte in its high nibble. */
function unpack(bytes: Uint8Array, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) =>
    i % 2 === 0 ? (bytes[i >> 1] as number) >> 4 : (bytes[i >> 1] as number) & 15,
  );
}

test("code books: bitsandbytes' published NF4 and FP4 values and its signed dynamic map", () => {
  assert.equal(NF4_CODE.length, 16);
  assert.equal(NF4_CODE[0], -1);
  assert.equal(NF4_CODE[7], 0);
  assert.equal(NF4_CODE[15], 1);
  assert.equal(NF4_CODE[8], Math.fround(0.07958029955625534));
  assert.equal(NF4_CODE[1], Math.fround(-0.6961928009986877));
  // FP4: 0, 0.0625, 8, 12, 4, 6, 2, 3 (and their negatives at index | 8) over 12
  assert.deepEqual(
    FP4_CODE.slice(0, 8),
    [0, 0.0625, 8, 12, 4, 6, 2, 3].map((v) => Math.fround(v / 12)),
  );
  assert.ok(Object.is(FP4_CODE[8], -0));
  assert.equal(FP4_CODE[11], -1);
  const map = dynamicMap();
  assert.equal(map.length, 256);
  for (let i = 1; i < 256; i++) assert.ok((map[i] as number) >= (map[i - 1] as number), 'sorted');
  assert.equal(map[255], 1);
  assert.equal(map[0], Math.fround(-0.99296875)); // the last mean of linspace(0.1, 1, 65), negated
  assert.ok(map.includes(0));
  assert.equal(Math.min(...[...map].filter((v) => v > 0)), Math.fround(Math.fround(1e-6) * Math.fround(0.55)));
});

for (const type of ['nf4', 'fp4'] as const) {
  for (const [rows, cols] of [
    [7, 13],
    [64, 96],
    [33, 70],
  ] as const) {
    test(`${type} [${rows}, ${cols}]: indices and scales as bitsandbytes defines them, dequantized to the float64 reference`, () => {
      const w = weights(rows, cols, rows * cols);
      const code = type === 'nf4' ? NF4_CODE : FP4_CODE;
      const ref = quantize4bitRef(w, type, code, 64);
      scope(() => {
        const q = QuantizedMatrix.quantize(Tensor.from(w, [rows, cols]), { type, doubleQuant: false });
        assert.deepEqual(unpack(q.data(), rows * cols), ref.indices);
        assertClose(q.scales(), ref.absmax, { atol: 0, rtol: 0 }, 'absmax');
        const expected = Float64Array.from(
          ref.indices,
          (c, i) => (code[c] as number) * (ref.absmax[Math.floor(i / 64)] as number),
        );
        for (const isa of availableIsas())
          withIsa(isa, () => assertClose(q.dequantize().toFloat32Array(), expected, { atol: 1e-9, rtol: 1e-6 }, isa));
        // 4 bits per value and one f32 per 64 values
        assert.equal(q.bytes, Math.ceil((rows * cols) / 2) + Math.ceil((rows * cols) / 64) * 4 + 16 * 4);
        q.dispose();
      });
    });
  }
}

test('double quantization: block scales as 8-bit dynamic-map codes per 256 blocks, offset by their mean', () => {
  const rows = 300;
  const cols = 128; // 600 blocks: three nested blocks, the last partial
  const w = weights(rows, cols, 5);
  const ref = quantize4bitRef(w, 'nf4', NF4_CODE, 64);
  const mean = Math.fround(ref.absmax.reduce((a, b) => a + b, 0) / ref.absmax.length);
  const centred = Float32Array.from(ref.absmax, (s) => s - mean);
  const map = dynamicMap();
  const nested = quantizeBlockwise8Ref(centred, map, 256);
  const scales = Float64Array.from(
    nested.q,
    (c, b) => (map[c] as number) * (nested.absmax[Math.floor(b / 256)] as number) + mean,
  );
  scope(() => {
    const q = QuantizedMatrix.quantize(Tensor.from(w, [rows, cols]), { type: 'nf4' });
    assert.ok(q.doubleQuantized);
    assert.deepEqual(unpack(q.data(), rows * cols), ref.indices);
    assertClose(q.scales(), scales, { atol: 1e-9, rtol: 1e-6 }, 'reconstructed absmax');
    // the 8-bit scales cost a byte per block (the f32 ones four) plus one f32 per 256 blocks and the map
    assert.equal(q.bytes, (rows * cols) / 2 + 600 + 3 * 4 + 256 * 4 + 16 * 4);
    // each stored scale is within half the map's coarsest step (0.0140625 / 2, in its top decade) times its nested
    // block's absmax of the true one
    ref.absmax.forEach((s, b) => {
      const bound = (0.0140625 / 2) * (nested.absmax[Math.floor(b / 256)] as number) + 1e-7;
      assert.ok(Math.abs((scales[b] as number) - s) <= bound, `block ${b}: ${scales[b]} vs ${s} (bound ${bound})`);
    });
    const expected = Float64Array.from(
      ref.indices,
      (c, i) => (NF4_CODE[c] as number) * (scales[Math.floor(i / 64)] as number),
    );
    assertClose(q.dequantize().toFloat32Array(), expected, { atol: 1e-9, rtol: 1e-6 }, 'dequantized');
    q.dispose();
  });
});

test("int8: LLM.int8()'s row-wise absmax storage, rounding half to even", () => {
  const rows = 19;
  const cols = 45;
  const w = weights(rows, cols, 9);
  w[3] = 0; // a row's zero stays zero
  const ref = quantizeInt8RowsRef(w, rows, cols);
  scope(() => {
    for (const dtype of ['f32', 'bf16'] as const) {
      const src = Tensor.from(w, [rows, cols], dtype);
      const values = src.toFloat32Array();
      const r = dtype === 'f32' ? ref : quantizeInt8RowsRef(values, rows, cols);
      const q = QuantizedMatrix.quantize(src, { type: 'int8' });
      assert.deepEqual(new Int8Array(q.data().buffer), r.q);
      assertClose(q.scales(), r.scb, { atol: 0, rtol: 0 }, 'SCB');
      const expected = Float64Array.from(r.q, (v, i) => (v * (r.scb[Math.floor(i / cols)] as number)) / 127);
      assertClose(q.dequantize().toFloat32Array(), expected, { atol: 1e-9, rtol: 1e-6 }, `${dtype} dequantized`);
      q.dispose();
    }
  });
});

test('quantizing a bf16 or f16 weight reads its stored values', () => {
  const w = weights(16, 64, 3);
  scope(() => {
    for (const dtype of ['bf16', 'f16'] as const) {
      const t = Tensor.from(w, [16, 64], dtype);
      const ref = quantize4bitRef(t.toFloat32Array(), 'nf4', NF4_CODE, 64);
      const q = QuantizedMatrix.quantize(t, { type: 'nf4', doubleQuant: false });
      assert.deepEqual(unpack(q.data(), 16 * 64), ref.indices, dtype);
      q.dispose();
    }
  });
});

/** x [m, k] @ deq(W)^T + b and g @ deq(W) in float64, from the dequantized values (themselves checked above). */
function checkProducts(
  type: QuantType,
  m: number,
  n: number,
  k: number,
  bias: boolean,
  format: { blocksize?: number; doubleQuant?: boolean } = {},
) {
  const rng = new Rng(m * 7 + n * 3 + k);
  const w = weights(n, k, n + k);
  const x = rng.floats(m * k);
  const b = rng.floats(n, -0.5, 0.5);
  const g = rng.floats(m * n);
  scope(() => {
    const q = QuantizedMatrix.quantize(Tensor.from(w, [n, k]), { type, ...format });
    const wq = Float64Array.from(q.dequantize().toFloat32Array());
    const yRef = gemmRef(x.f64, wq, { m, n, k, transB: true, ...(bias ? { bias: b.f64 } : {}) });
    const dxRef = gemmRef(g.f64, wq, { m, n: k, k: n });
    for (const isa of availableIsas())
      withIsa(isa, () => {
        const xt = Tensor.from(x.f32, [m, k]).requiresGrad_();
        const bt = bias ? Tensor.from(b.f32, [n]).requiresGrad_() : undefined;
        const y = quantizedLinear(xt, q, bt);
        assertClose(y.toFloat32Array(), yRef, { atol: 1e-5, rtol: 1e-5 }, `${isa} y`);
        y.backward(Tensor.from(g.f32, [m, n]));
        assertClose(xt.grad?.toFloat32Array() ?? [], dxRef, { atol: 1e-5, rtol: 1e-5 }, `${isa} dx`);
        if (bt) {
          const dbRef = Float64Array.from({ length: n }, (_, j) => {
            let s = 0;
            for (let i = 0; i < m; i++) s += g.f64[i * n + j] as number;
            return s;
          });
          assertClose(bt.grad?.toFloat32Array() ?? [], dbRef, { atol: 1e-5, rtol: 1e-5 }, `${isa} db`);
        }
        xt.grad?.dispose();
        bt?.grad?.dispose();
      });
    q.dispose();
  });
}

for (const type of ['nf4', 'fp4', 'int8'] as const) {
  test(`quantizedLinear ${type}: decoding rows stream the bytes (m = 1, 3; odd shapes)`, () => {
    checkProducts(type, 1, 37, 70, true);
    checkProducts(type, 3, 33, 71, false);
  });
  test(`quantizedLinear ${type}: the fused decoding product (whole blocks per row) for every m from 1 to 8`, () => {
    for (let m = 1; m <= 8; m++) checkProducts(type, m, 37, 192, m % 2 === 1);
    checkProducts(type, 3, 19, 256, true, { blocksize: 128 });
    checkProducts(type, 2, 21, 128, false, { doubleQuant: false });
  });
  test(`quantizedLinear ${type}: prefill rows decode tiles into the GEMM (m = 37)`, () => {
    checkProducts(type, 37, 45, 130, true);
  });
}

/** Round to the nearest bf16, ties to even (what the bf16 GEMM does to each operand). */
function bf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0] as number) + 0x7fff + (((u[0] as number) >>> 16) & 1)) & 0xffff0000;
  return f[0] as number;
}

test('quantizedLinear under bf16 precision: the tiles are multiplied as bf16 operands with f32 sums (QLoRA compute)', () => {
  const [m, n, k] = [37, 45, 130];
  const w = weights(n, k, 5);
  const rng = new Rng(9);
  const x = rng.floats(m * k);
  const g = rng.floats(m * n);
  scope(() => {
    const q = QuantizedMatrix.quantize(Tensor.from(w, [n, k]), { type: 'nf4' });
    const wq = Float64Array.from(q.dequantize().toFloat32Array(), bf16);
    const yRef = gemmRef(Float64Array.from(x.f32, bf16), wq, { m, n, k, transB: true });
    const dxRef = gemmRef(Float64Array.from(g.f32, bf16), wq, { m, n: k, k: n });
    const f32 = quantizedLinear(Tensor.from(x.f32, [m, k]), q).toFloat32Array();
    for (const isa of availableIsas())
      withIsa(isa, () =>
        withMatmulPrecision('bf16', () => {
          const xt = Tensor.from(x.f32, [m, k]).requiresGrad_();
          const y = quantizedLinear(xt, q);
          assertClose(y.toFloat32Array(), yRef, { atol: 1e-5, rtol: 1e-5 }, `${isa} y`);
          y.backward(Tensor.from(g.f32, [m, n]));
          assertClose(xt.grad?.toFloat32Array() ?? [], dxRef, { atol: 1e-5, rtol: 1e-5 }, `${isa} dx`);
          assert.notDeepEqual(y.toFloat32Array(), f32, `${isa}: bf16 product equals the f32 one`);
        }),
      );
    q.dispose();
  });
});

for (const type of ['nf4', 'fp4'] as const) {
  test(`quantizedLinear ${type} decoding under bf16 precision: bf16(code * absmax) times bf16(x), f32 sums, on every path`, () => {
    const n = 45;
    const rng = new Rng(12);
    const b = rng.floats(n, -0.5, 0.5);
    scope(() => {
      // 64-blocks, an odd number per row (double-quantized or not); an even number (m <= 2: two blocks per load),
      // the nested 256-block boundary inside row 42; 128-blocks of 2 steps; 128-blocks straddling rows (the per-row
      // fallback)
      for (const [k, format] of [
        [192, {}],
        [192, { doubleQuant: false }],
        [384, {}],
        [256, { doubleQuant: false }],
        [256, { blocksize: 128 }],
        [192, { blocksize: 128 }],
      ] as const) {
        const w = weights(n, k, 3);
        const x = rng.floats(8 * k);
        const q = QuantizedMatrix.quantize(Tensor.from(w, [n, k]), { type, ...format });
        const wq = Float64Array.from(q.dequantize().toFloat32Array(), bf16);
        for (let m = 1; m <= 8; m++) {
          const xs = x.f32.subarray(0, m * k);
          const yRef = gemmRef(Float64Array.from(xs, bf16), wq, { m, n, k, transB: true, bias: b.f64 });
          const f32 = quantizedLinear(Tensor.from(xs, [m, k]), q, Tensor.from(b.f32, [n])).toFloat32Array();
          for (const cap of bf16Caps())
            withBf16Cap(cap, () =>
              withMatmulPrecision('bf16', () => {
                const y = quantizedLinear(Tensor.from(xs, [m, k]), q, Tensor.from(b.f32, [n])).toFloat32Array();
                // the products are exact in f32: what is left is f32 summation over k <= 384 terms
                assertClose(y, yRef, { atol: 1e-5, rtol: 1e-5 }, `${cap} m=${m} ${JSON.stringify(format)}`);
                assert.notDeepEqual(y, f32, `${cap} m=${m}: the bf16 product equals the f32 one`);
              }),
            );
        }
        q.dispose();
      }
    });
  });
}

test('quantizedLinear: a matrix larger than one decoded tile (4 MB) sums its tiles in order', () => {
  checkProducts('nf4', 9, 2100, 600, false);
});

test('quantizedLinear: results do not depend on the thread count', async () => {
  const { setThreads, getThreads } = await import('../../src/engine/index.js');
  const prev = getThreads();
  const w = weights(300, 200, 1);
  const x = new Rng(2).floats(20 * 200).f32;
  const run = (threads: number) =>
    scope(() => {
      setThreads(threads);
      const q = QuantizedMatrix.quantize(Tensor.from(w, [300, 200]), { type: 'nf4' });
      const out = [
        quantizedLinear(Tensor.from(x, [20, 200]), q).toFloat32Array(),
        quantizedLinear(Tensor.from(x.subarray(0, 400), [2, 200]), q).toFloat32Array(),
      ];
      q.dispose();
      return out;
    });
  try {
    assert.deepEqual(run(1), run(2));
  } finally {
    setThreads(prev);
  }
});

test('quantizedLinear: the input gradient against finite differences of the float64 product', () => {
  const m = 2;
  const n = 5;
  const k = 70;
  const w = weights(n, k, 11);
  const x = new Rng(4).floats(m * k);
  const proj = new Rng(6).floats(m * n).f64;
  scope(() => {
    const q = QuantizedMatrix.quantize(Tensor.from(w, [n, k]), { type: 'fp4' });
    const wq = Float64Array.from(q.dequantize().toFloat32Array());
    const xt = Tensor.from(x.f32, [m, k]).requiresGrad_();
    quantizedLinear(xt, q).backward(Tensor.from(proj, [m, n]));
    assertGradient(
      (xs) => dot(gemmRef(xs, wq, { m, n, k, transB: true }), proj),
      x.f64,
      xt.grad?.toFloat32Array() ?? [],
      {
        atol: 1e-5,
        rtol: 1e-4,
      },
    );
    q.dispose();
  });
});

test('quantizedLinear equals linear over the dequantized weight, and a disposed matrix is refused', () => {
  const w = weights(24, 40, 8);
  const x = new Rng(1).floats(6 * 40).f32;
  scope(() => {
    const q = QuantizedMatrix.quantize(Tensor.from(w, [24, 40]), { type: 'nf4' });
    const deq = q.dequantize();
    const a = quantizedLinear(Tensor.from(x, [2, 3, 40]), q);
    assert.deepEqual(a.shape, [2, 3, 24]);
    assertClose(a.toFloat32Array(), linear(Tensor.from(x, [2, 3, 40]), deq).toFloat32Array(), {
      atol: 1e-6,
      rtol: 1e-5,
    });
    assert.ok(sumAll(a).item() !== 0);
    q.dispose();
    assert.throws(() => quantizedLinear(Tensor.from(x, [6, 40]), q), /disposed quantized matrix/);
    assert.throws(() => QuantizedMatrix.quantize(Tensor.from([1, 2, 3], [3]), { type: 'nf4' }), /weight matrix/);
  });
});
