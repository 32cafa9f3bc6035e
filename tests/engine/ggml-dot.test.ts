/**
 * Products with ggml-block weights (native/src/kernels/ggml_dot.cc) against float64 products of what the blocks
 * decode to (ggml_blocks.cc's dequantizer): the integer-dot decode path (activations as q8 blocks: one row, and
 * batches of rows that share each unpacked weight block) within the activation rounding it implies, a row's output
 * the same whatever batch it is in, the dequantizing GEMM path (prefill) and dx = dy W (training) to float rounding,
 * on shapes whose rows are odd and whose columns leave a tail after the 128-value steps, on every ISA path.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native, QuantizedMatrix, quantizedEmbedding, quantizedLinear, Tensor } from '../../src/engine/index.js';
import { type GgmlBlockType, ggmlDequantize, ggmlQuantize } from '../../src/engine/quant/ggml-blocks.js';
import type { GgmlQuantType } from '../../src/engine/quant/quantized-matrix.js';
import { availableIsas, withIsa } from '../util/isa.js';

const CASES: { type: GgmlQuantType; block: GgmlBlockType; cols: number }[] = [
  { type: 'q8_0', block: 'Q8_0', cols: 224 },
  { type: 'q4_0', block: 'Q4_0', cols: 160 },
  { type: 'q5_0', block: 'Q5_0', cols: 96 },
  { type: 'q5_1', block: 'Q5_1', cols: 288 },
  { type: 'q4_k', block: 'Q4_K', cols: 512 },
  { type: 'q5_k', block: 'Q5_K', cols: 256 },
  { type: 'q6_k', block: 'Q6_K', cols: 768 },
];
const ROWS = 37;

function random(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    out[i] = (u - 0.5) * 2 * scale * (i % 7 === 0 ? 3 : 1);
  }
  return out;
}

/** The float64 product x [m, K] W^T [K, N] and, per output, the bound the q8 rounding of x allows. */
function reference(x: Float32Array, w: Float32Array, m: number, n: number, k: number, bias?: Float32Array) {
  const y = new Float64Array(m * n);
  const bound = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const dx = new Float64Array(k);
    for (let b = 0; b < k / 32; b++) {
      let amax = 0;
      for (let l = 0; l < 32; l++) amax = Math.max(amax, Math.abs(x[i * k + 32 * b + l] as number));
      for (let l = 0; l < 32; l++) dx[32 * b + l] = amax / 127 / 2;
    }
    for (let r = 0; r < n; r++) {
      let s = bias ? (bias[r] as number) : 0;
      let e = 0;
      let mag = 0;
      for (let c = 0; c < k; c++) {
        const wv = w[r * k + c] as number;
        const xv = x[i * k + c] as number;
        s += xv * wv;
        e += Math.abs(wv) * (dx[c] as number);
        mag += Math.abs(wv * xv);
      }
      y[i * n + r] = s;
      bound[i * n + r] = e * 1.0001 + 1e-5 * mag + 1e-6;
    }
  }
  return { y, bound };
}

for (const { type, block, cols } of CASES)
  test(`${type} [${ROWS}, ${cols}]: decode (integer dots), prefill and dx on every ISA path`, () => {
    const values = random(ROWS * cols, 7 + cols, 0.05);
    const blocks = ggmlQuantize(values, block);
    const w = ggmlDequantize(blocks, block, values.length);
    const q = QuantizedMatrix.fromGgml(type, ROWS, cols, blocks);
    const dq = q.dequantize();
    const got = dq.toFloat32Array();
    assert.deepEqual(got, w, 'the unpacked rows decode bit-equal to the block dequantizer');
    dq.dispose();
    const bias = random(ROWS, 99, 0.5);
    const biasT = Tensor.from(bias, [ROWS]);
    for (const isa of availableIsas())
      withIsa(isa, () => {
        const streamRows = native.ggmlStreamRows() as number;
        // one row (the fused row dot), batches of the batched dots (a group of 8 and a tail), more rows than the
        // integer path takes (tiles + f32 GEMM)
        for (const m of [1, 3, 8, 17, streamRows, 33]) {
          const xv = random(m * cols, 1000 * m + cols);
          const x = Tensor.from(xv, [m, cols]);
          const y = quantizedLinear(x, q, biasT).toFloat32Array();
          const ref = reference(xv, w, m, ROWS, cols, bias);
          for (let i = 0; i < y.length; i++) {
            const err = Math.abs((y[i] as number) - (ref.y[i] as number));
            // up to streamRows rows round x to q8 blocks; more go through the f32 GEMM (float rounding only)
            const tol = m <= streamRows ? (ref.bound[i] as number) : 1e-4 * (1 + Math.abs(ref.y[i] as number));
            assert.ok(err <= tol, `${isa} m=${m} y[${i}]: ${y[i]} vs ${ref.y[i]} (error ${err} > ${tol})`);
          }
          x.dispose();
        }
        // A row's output does not depend on the batch it is in (serving batches clients' decode steps): rows of a
        // 17-row batch equal the same rows run as batches of 2 and 5, bit for bit.
        const batch = random(17 * cols, 4242 + cols);
        const run = (from: number, rows: number) => {
          const x = Tensor.from(batch.subarray(from * cols, (from + rows) * cols), [rows, cols]);
          const y = quantizedLinear(x, q, biasT).toFloat32Array();
          x.dispose();
          return y;
        };
        const all = run(0, 17);
        assert.deepEqual(run(3, 2), all.subarray(3 * ROWS, 5 * ROWS), `${isa} rows 3..4 alone vs in the batch`);
        assert.deepEqual(run(9, 5), all.subarray(9 * ROWS, 14 * ROWS), `${isa} rows 9..13 alone vs in the batch`);
        // dx [m, K] = dy [m, N] @ W
        const m = 5;
        const dyv = random(m * ROWS, 5);
        const dy = Tensor.from(dyv, [m, ROWS]);
        const dx = Tensor.empty([m, cols]);
        native.ggmlLinearBackwardInput(q.descriptor(), dy.handle, m, dx.handle);
        const dxv = dx.toFloat32Array();
        for (let i = 0; i < m; i++)
          for (let c = 0; c < cols; c++) {
            let s = 0;
            for (let r = 0; r < ROWS; r++) s += (dyv[i * ROWS + r] as number) * (w[r * cols + c] as number);
            assert.ok(Math.abs((dxv[i * cols + c] as number) - s) <= 1e-4 * (1 + Math.abs(s)), `${isa} dx`);
          }
        dy.dispose();
        dx.dispose();
      });
    biasT.dispose();
    q.dispose();
  });

test('embedding lookups from ggml blocks give the rows the block dequantizer gives, bit for bit, on every ISA', () => {
  for (const { type, block, cols } of CASES) {
    const values = random(ROWS * cols, 3 + cols, 0.05);
    const blocks = ggmlQuantize(values, block);
    const w = ggmlDequantize(blocks, block, values.length);
    const q = QuantizedMatrix.fromGgml(type, ROWS, cols, blocks);
    const ids = [36, 0, 5, 5, 17];
    const idT = Tensor.from(Int32Array.from(ids), [5], 'i32');
    for (const isa of availableIsas())
      withIsa(isa, () => {
        const out = quantizedEmbedding(q, idT);
        assert.deepEqual(out.shape, [5, cols]);
        const got = out.toFloat32Array();
        for (const [i, id] of ids.entries())
          assert.deepEqual(
            got.subarray(i * cols, (i + 1) * cols),
            w.subarray(id * cols, (id + 1) * cols),
            `${isa} ${type} row ${id}`,
          );
        out.dispose();
      });
    const bad = Tensor.from(Int32Array.from([ROWS]), [1], 'i32');
    assert.throws(
      () => quantizedEmbedding(q, bad),
      new RegExp(`token id ${ROWS} .*out of range for a vocabulary of ${ROWS}`),
    );
    bad.dispose();
    idT.dispose();
    q.dispose();
  }
});

test('the integer-dot path follows the ISA cap: vnni under avx512 (with VNNI), maddubs under avx2, scalar', () => {
  const isas = availableIsas();
  const paths = isas.map((isa) => withIsa(isa, () => native.ggmlDotPath() as string));
  assert.equal(paths[0], 'portable');
  if (isas.includes('avx2')) assert.equal(paths[1], 'avx2');
  if (isas.includes('avx512')) assert.ok(['vnni', 'avx2'].includes(paths[2] as string));
});

test('ggml matrices refuse a shape that is not whole blocks, and bnb-only calls say why', () => {
  assert.throws(() => QuantizedMatrix.fromGgml('q4_k', 2, 128, new Uint8Array(2 * 144)), /whole number of 256/);
  assert.throws(() => QuantizedMatrix.fromGgml('q8_0', 2, 64, new Uint8Array(10)), /10 bytes of blocks, expected 136/);
  const q = QuantizedMatrix.fromGgml('q8_0', 1, 32, ggmlQuantize(random(32, 1), 'Q8_0'));
  assert.throws(() => q.parts(), /saves only as GGUF/);
  q.dispose();
});
