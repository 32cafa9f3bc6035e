/**
 * ggml block formats (issue #13 item 2): the native quantizer writes exactly the bytes of llama.cpp's reference
 * quantizer (as transcribed, float32 operation by operation, in ggml-reference.ts) for Q4_0, Q5_0, Q5_1, Q4_K, Q5_K
 * and Q6_K, and decodes them as ggml does; round trips stay within each type's error; the Q4_K_M / Q5_K_M mixtures
 * pick the layers llama-quantize picks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GGML_BLOCK_TYPES, ggmlDequantize, ggmlQuantize } from '../../src/engine/quant/ggml-blocks.js';
import { ggmlTypeFor, useMoreBits } from '../../src/export/gguf/gguf-mixture.js';
import { quantizeQ8_0 } from '../../src/export/index.js';
import { Rng } from '../util/random.js';
import { type ReferenceType, referenceDequantize, referenceQuantize } from './ggml-reference.js';

const TYPES: ReferenceType[] = ['Q4_0', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K'];

/** Values that exercise the searches: gaussian-ish weights, outliers, all-positive, all-zero and tiny blocks. */
function testValues(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const rand = () => rng.next();
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (rand() + rand() + rand() - 1.5) * 0.08;
  for (let i = 0; i < n; i += 97) x[i] = (rand() - 0.5) * 2; // outliers
  x.fill(0, 256, 512); // an all-zero super-block
  for (let i = 512; i < 768; i++) x[i] = rand() * 0.3 + 0.01; // all positive: min clamps to 0
  for (let i = 768; i < 1024; i++) x[i] = (rand() - 0.5) * 1e-20; // below GROUP_MAX_EPS for Q6_K
  for (let i = 1024; i < 1056; i++) x[i] = 0.25; // a constant 32-block
  return x;
}

const RMS_LIMIT: Record<ReferenceType, number> = {
  Q4_0: 0.2,
  Q5_0: 0.1,
  Q5_1: 0.06,
  Q4_K: 0.1,
  Q5_K: 0.05,
  Q6_K: 0.04,
};

for (const type of TYPES)
  test(`${type}: native bytes equal llama.cpp's reference quantizer; decode equals ggml's; error in bounds`, () => {
    const n = 256 * 24;
    const x = testValues(n, TYPES.indexOf(type) + 1);
    const got = ggmlQuantize(x, type);
    const f = GGML_BLOCK_TYPES[type];
    assert.equal(got.length, (n / f.elements) * f.bytes);
    const want = referenceQuantize(x, type);
    for (let b = 0; b < n / f.elements; b++) {
      const a = got.subarray(b * f.bytes, (b + 1) * f.bytes);
      const e = want.subarray(b * f.bytes, (b + 1) * f.bytes);
      assert.deepEqual(a, e, `${type} block ${b}`);
    }
    const back = ggmlDequantize(got, type, n);
    assert.deepEqual(back, referenceDequantize(got, type, n), `${type} decode`);
    // all-zero blocks decode to zeros; the rest within the type's relative RMS error
    for (let i = 256; i < 512; i++) assert.equal(Math.abs(back[i] as number), 0, `${type} zero block ${i}`);
    let err = 0;
    let norm = 0;
    for (let i = 1024; i < n; i++) {
      err += ((back[i] as number) - (x[i] as number)) ** 2;
      norm += (x[i] as number) ** 2;
    }
    const rel = Math.sqrt(err / norm);
    assert.ok(rel < RMS_LIMIT[type], `${type} relative RMS error ${rel}`);
    assert.ok(rel > RMS_LIMIT[type] / 20, `${type} really quantizes (error ${rel})`);
  });

test('Q4_0 by hand: d = max / -8 as f16, q = trunc(x / d + 8.5) capped at 15, nibbles j | j + 16', () => {
  const x = new Float32Array(32);
  x[0] = -8; // the signed extreme: d = -8 / -8 = 1, q = 0.5 -> 0
  x[1] = 8; // 16.5 -> 16, capped at 15
  x[2] = -3.4; // 5.1 -> 5
  x[16] = -7.9; // 0.6 -> 0
  x[17] = 0.5; // 9 -> 9
  const b = ggmlQuantize(x, 'Q4_0');
  assert.equal(new DataView(b.buffer).getUint16(0, true), 0x3c00, 'd = 1');
  assert.equal(b[2], 0, 'x0 -> 0, x16 -> 0');
  assert.equal(b[3], 15 | (9 << 4), 'x1 -> 15, x17 -> 9');
  assert.equal(b[4], 5 | (8 << 4), 'x2 -> 5, x18 = 0 -> 8');
  assert.deepEqual([...ggmlDequantize(b, 'Q4_0', 32).subarray(0, 3)], [-8, 7, -3]);
});

test('Q8_0: the native blocks equal the TypeScript quantize_row_q8_0_ref and decode as d * q', () => {
  const values = testValues(256 * 8, 9);
  assert.deepEqual(ggmlQuantize(values, 'Q8_0'), quantizeQ8_0(values));
  const x = Float32Array.from({ length: 64 }, (_, i) => (i - 31) / 8);
  const back = ggmlDequantize(ggmlQuantize(x, 'Q8_0'), 'Q8_0', 64);
  for (let i = 0; i < 64; i++) assert.ok(Math.abs((back[i] as number) - (x[i] as number)) < 0.02, `${i}`);
});

test("use_more_bits and the Q4_K_M / Q5_K_M mixtures as llama-quantize's", () => {
  // 32 layers: layers 0..3, 28..31 and every third from 6
  const picked = Array.from({ length: 32 }, (_, i) => i).filter((i) => useMoreBits(i, 32));
  assert.deepEqual(picked, [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
  // 4 layers (the tiny model): eighth = 0, 7/8 -> 3: layers 2 and 3
  assert.deepEqual(
    [0, 1, 2, 3].filter((i) => useMoreBits(i, 4)),
    [2, 3],
  );
  const ctx = { layers: 4, hasOutput: false, is70b: false };
  const m = [256, 256];
  assert.equal(ggmlTypeFor('blk.0.attn_v.weight', m, 'q4_k_m', ctx), 'Q4_K');
  assert.equal(ggmlTypeFor('blk.2.attn_v.weight', m, 'q4_k_m', ctx), 'Q6_K');
  assert.equal(ggmlTypeFor('blk.3.ffn_down.weight', m, 'q5_k_m', ctx), 'Q6_K');
  assert.equal(ggmlTypeFor('blk.1.ffn_down.weight', m, 'q5_k_m', ctx), 'Q5_K');
  assert.equal(ggmlTypeFor('blk.2.attn_q.weight', m, 'q4_k_m', ctx), 'Q4_K');
  assert.equal(ggmlTypeFor('blk.2.attn_v.weight', m, 'q6_k', ctx), 'Q6_K');
  assert.equal(ggmlTypeFor('blk.2.attn_v.weight', m, 'q4_0', ctx), 'Q4_0');
  // a tied token_embd is the output: Q6_K in every 4-6-bit type, Q8_0 stays Q8_0
  assert.equal(ggmlTypeFor('token_embd.weight', m, 'q4_0', ctx), 'Q6_K');
  assert.equal(ggmlTypeFor('token_embd.weight', m, 'q4_k_m', ctx), 'Q6_K');
  assert.equal(ggmlTypeFor('token_embd.weight', m, 'q8_0', ctx), 'Q8_0');
  const untied = { ...ctx, hasOutput: true };
  assert.equal(ggmlTypeFor('token_embd.weight', m, 'q4_k_m', untied), 'Q4_K');
  assert.equal(ggmlTypeFor('output.weight', m, 'q5_k_m', untied), 'Q6_K');
  // rows that are no whole number of super-blocks fall back as llama.cpp does
  assert.equal(ggmlTypeFor('blk.0.attn_q.weight', [64, 96], 'q4_k_m', ctx), 'Q5_0');
  assert.equal(ggmlTypeFor('blk.0.attn_q.weight', [64, 96], 'q5_k_m', ctx), 'Q5_1');
  assert.equal(ggmlTypeFor('blk.0.attn_q.weight', [64, 96], 'q6_k', ctx), 'Q8_0');
  assert.equal(ggmlTypeFor('blk.0.attn_q.weight', [64, 40], 'q4_0', ctx), 'F16');
  assert.equal(ggmlTypeFor('token_embd.weight', [64, 96], 'q4_k_m', ctx), 'Q8_0');
  // norms and biases stay F32; 70B-type models lift Q4_K attn_v to Q5_K
  assert.equal(ggmlTypeFor('blk.0.attn_norm.weight', [256], 'q4_k_m', ctx), 'F32');
  assert.equal(ggmlTypeFor('blk.0.attn_q.bias', [256], 'q4_k_m', ctx), 'F32');
  const big = { layers: 80, hasOutput: true, is70b: true };
  assert.equal(ggmlTypeFor('blk.11.attn_v.weight', m, 'q4_k_m', big), 'Q5_K');
  assert.equal(ggmlTypeFor('blk.12.attn_v.weight', m, 'q4_k_m', big), 'Q6_K');
});
