import assert from 'node:assert/strict';
import { test } from 'node:test';
import { noGrad, pagedAttention, pagedKvWrite, Tensor } from '../../src/engine/index.js';
import { type AttentionRefOptions, attentionRef } from '../../src/engine/reference/attention.js';
import { availableIsas, withIsa } from '../util/isa.js';
import { Rng } from '../util/random.js';

interface Case {
  name: string;
  H: number;
  KVH: number;
  D: number;
  blockSize: number;
  /** Per sequence: its length in the cache and how many of its last positions are queries this step. */
  seqs: { len: number; queries: number }[];
  window?: number;
  /** Score scale instead of 1 / sqrt(D) (Gemma 2's query_pre_attn_scalar^-0.5). */
  scale?: number;
  softcap?: number;
  /** ALiBi slopes [H] (Baichuan 2 13B). */
  alibi?: number[];
}

// Odd head dims (tails past whole vectors on every ISA), GQA groups, block edges, decode (1 query) and chunked
// prefill (a run of queries) mixed in one call, a sliding window.
const CASES: Case[] = [
  {
    name: 'decode, MHA, odd D',
    H: 3,
    KVH: 3,
    D: 7,
    blockSize: 4,
    seqs: [
      { len: 9, queries: 1 },
      { len: 1, queries: 1 },
    ],
  },
  {
    name: 'GQA 4, block edges, mixed decode and prefill',
    H: 8,
    KVH: 2,
    D: 33,
    blockSize: 16,
    seqs: [
      { len: 16, queries: 1 },
      { len: 40, queries: 7 },
      { len: 17, queries: 17 },
      { len: 3, queries: 1 },
    ],
  },
  {
    name: 'head dim 64, GQA 3',
    H: 9,
    KVH: 3,
    D: 64,
    blockSize: 16,
    seqs: [
      { len: 70, queries: 5 },
      { len: 33, queries: 1 },
    ],
  },
  {
    name: 'sliding window',
    H: 4,
    KVH: 2,
    D: 19,
    blockSize: 8,
    window: 5,
    seqs: [
      { len: 30, queries: 6 },
      { len: 4, queries: 1 },
    ],
  },
  {
    name: 'soft-capped scores, scale override, GQA 2, window',
    H: 6,
    KVH: 3,
    D: 13,
    blockSize: 4,
    window: 7,
    scale: 0.9,
    softcap: 2.5,
    seqs: [
      { len: 23, queries: 9 },
      { len: 2, queries: 1 },
      { len: 11, queries: 1 },
    ],
  },
  {
    name: 'ALiBi slopes, MHA, long sequence over many blocks',
    H: 5,
    KVH: 5,
    D: 9,
    blockSize: 8,
    alibi: [0.5, 0.25, 0.125, 0.0625, 0.7],
    seqs: [
      { len: 45, queries: 3 },
      { len: 6, queries: 6 },
    ],
  },
  {
    name: 'ALiBi and soft-capping together with GQA 4',
    H: 8,
    KVH: 2,
    D: 17,
    blockSize: 16,
    softcap: 4,
    alibi: [0.3, 0.2, 0.1, 0.05, 0.4, 0.01, 0.15, 0.6],
    seqs: [
      { len: 33, queries: 2 },
      { len: 16, queries: 1 },
    ],
  },
];

/**
 * out [n, H, D]: query n alone (T = 1) at position posOf[n] against its sequence's keys 0..pos, through the float64
 * attention reference with the case's window, scale, soft-cap and ALiBi.
 */
function reference(
  q: Float32Array,
  keys: Float32Array[],
  values: Float32Array[],
  seqOf: number[],
  posOf: number[],
  c: Case,
): Float64Array {
  const { H, KVH, D } = c;
  const row = KVH * D;
  const opts: AttentionRefOptions = {
    ...(c.window ? { slidingWindow: c.window } : {}),
    ...(c.scale ? { scale: c.scale } : {}),
    ...(c.softcap ? { softcap: c.softcap } : {}),
    ...(c.alibi ? { alibiSlopes: c.alibi } : {}),
  };
  const out = new Float64Array(seqOf.length * H * D);
  seqOf.forEach((s, n) => {
    const pos = posOf[n] as number;
    const S = pos + 1;
    const k = Float64Array.from((keys[s] as Float32Array).subarray(0, S * row));
    const v = Float64Array.from((values[s] as Float32Array).subarray(0, S * row));
    const qn = Float64Array.from(q.subarray(n * H * D, (n + 1) * H * D));
    const dims = { B: 1, T: 1, S, H, KVH, D };
    out.set(attentionRef(qn, k, v, dims, { ...opts, queryOffset: pos }), n * H * D);
  });
  return out;
}

for (const c of CASES) {
  test(`pagedAttention matches a float64 reference: ${c.name}`, () => {
    const rng = new Rng(11);
    const { H, KVH, D, blockSize: bs } = c;
    const row = KVH * D;
    const blocksPerSeq = c.seqs.map((s) => Math.ceil(s.len / bs));
    const numBlocks = blocksPerSeq.reduce((a, b) => a + b, 0) + 3;
    // Blocks handed out shuffled, so a table is not just consecutive ids.
    const ids = Array.from({ length: numBlocks }, (_, i) => i).sort(() => rng.uniform() - 0.5);
    const tables = blocksPerSeq.map((count) => ids.splice(0, count));
    const keys = c.seqs.map((s) => Float32Array.from({ length: s.len * row }, () => rng.normal()));
    const values = c.seqs.map((s) => Float32Array.from({ length: s.len * row }, () => rng.normal()));
    const seqOf: number[] = [];
    const posOf: number[] = [];
    c.seqs.forEach((s, i) => {
      for (let p = s.len - s.queries; p < s.len; p++) {
        seqOf.push(i);
        posOf.push(p);
      }
    });
    const n = seqOf.length;
    const q = Float32Array.from({ length: n * H * D }, () => rng.normal());
    const want = reference(q, keys, values, seqOf, posOf, c);
    const maxBlocks = Math.max(...blocksPerSeq);
    const table = new Int32Array(c.seqs.length * maxBlocks);
    for (const [i, t] of tables.entries()) table.set(t, i * maxBlocks);
    for (const isa of availableIsas()) {
      withIsa(isa, () =>
        noGrad(() => {
          const kPool = Tensor.zeros([numBlocks, bs, KVH, D]);
          const vPool = Tensor.zeros([numBlocks, bs, KVH, D]);
          // Every cached position written through pagedKvWrite, all sequences in one call.
          const slots: number[] = [];
          const kRows: number[] = [];
          const vRows: number[] = [];
          c.seqs.forEach((s, i) => {
            for (let p = 0; p < s.len; p++) {
              slots.push(((tables[i] as number[])[Math.floor(p / bs)] as number) * bs + (p % bs));
              kRows.push(...(keys[i] as Float32Array).subarray(p * row, (p + 1) * row));
              vRows.push(...(values[i] as Float32Array).subarray(p * row, (p + 1) * row));
            }
          });
          const k = Tensor.from(kRows, [slots.length, KVH, D]);
          const v = Tensor.from(vRows, [slots.length, KVH, D]);
          const slotT = Tensor.from(Int32Array.from(slots), [slots.length], 'i32');
          pagedKvWrite(k, v, kPool, vPool, slotT);
          const opts = {
            blockTable: Tensor.from(table, [c.seqs.length, maxBlocks], 'i32'),
            seqOf: Tensor.from(Int32Array.from(seqOf), [n], 'i32'),
            posOf: Tensor.from(Int32Array.from(posOf), [n], 'i32'),
            ...(c.window ? { slidingWindow: c.window } : {}),
            ...(c.scale ? { scale: c.scale } : {}),
            ...(c.softcap ? { softcap: c.softcap } : {}),
            ...(c.alibi ? { alibiSlopes: Tensor.from(Float32Array.from(c.alibi), [H]) } : {}),
          };
          const out = pagedAttention(Tensor.from(q, [n, H, D]), kPool, vPool, opts).toFloat32Array();
          let worst = 0;
          for (let i = 0; i < want.length; i++)
            worst = Math.max(worst, Math.abs((out[i] as number) - (want[i] as number)));
          assert.ok(worst < 2e-5, `${isa}: max |diff| ${worst}`);
          for (const t of [kPool, vPool, k, v, slotT, opts.blockTable, opts.seqOf, opts.posOf]) t.dispose();
          opts.alibiSlopes?.dispose();
        }),
      );
    }
  });
}

test('pagedAttention refuses block ids outside the pool and positions past the table', () => {
  noGrad(() => {
    const pool = Tensor.zeros([2, 4, 2, 8]);
    const q = Tensor.zeros([1, 2, 8]);
    const opts = (table: number[], pos: number) => ({
      blockTable: Tensor.from(Int32Array.from(table), [1, table.length], 'i32'),
      seqOf: Tensor.from(Int32Array.of(0), [1], 'i32'),
      posOf: Tensor.from(Int32Array.of(pos), [1], 'i32'),
    });
    assert.throws(() => pagedAttention(q, pool, pool, opts([5], 1)), /blockTable\[0\]\[0\] = 5 outside \[0, 2\)/);
    assert.throws(() => pagedAttention(q, pool, pool, opts([0], 4)), /posOf\[0\] = 4 outside/);
    assert.throws(
      () => pagedAttention(Tensor.zeros([1, 3, 8]), pool, pool, opts([0], 0)),
      /3 query heads cannot share 2/,
    );
    assert.throws(() => pagedAttention(q, pool, pool, { ...opts([0], 0), softcap: -1 }), /softcap must be/);
    assert.throws(
      () => pagedAttention(q, pool, pool, { ...opts([0], 0), alibiSlopes: Tensor.zeros([3]) }),
      /alibiSlopes must be f32 \[2\]/,
    );
  });
});
