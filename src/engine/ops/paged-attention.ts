/**
 * Causal attention over a paged KV cache (native/src/kernels/paged_attention.cc), inference only.
 *
 *   pagedKvWrite(k [N, KVH, D], v [N, KVH, D], kPool, vPool [blocks, blockSize, KVH, D], slots i32 [N])
 *   pagedAttention(q [N, H, D], kPool, vPool, { blockTable i32 [seqs, maxBlocks], seqOf i32 [N], posOf i32 [N] })
 *     -> out [N, H, D]
 *
 * A query token n of sequence seqOf[n] at absolute position posOf[n] sees that sequence's keys at positions
 * j <= posOf[n] (and j > posOf[n] - slidingWindow with a window), read through its block table: position j is row
 * j % blockSize of block blockTable[seq][j / blockSize]. The step's own keys must be written first. Scores follow
 * attention()'s rules: q.k * scale, soft-capped (softcap * tanh(s / softcap)) with `softcap`, plus slope[h] * j with
 * ALiBi slopes, so every family's attention has the same numbers in both caches.
 */
import { isGradEnabled } from '../autograd.js';
import { native } from '../native.js';
import { formatShape, Tensor } from '../tensor.js';
import { expectF32 } from './check.js';

export interface PagedAttentionOptions {
  /** i32 [seqs, maxBlocks]: each sequence's block ids in position order (unused entries: any id). */
  blockTable: Tensor;
  /** i32 [N]: the sequence (row of blockTable) of each query. */
  seqOf: Tensor;
  /** i32 [N]: the absolute position of each query. */
  posOf: Tensor;
  /** Default 1 / sqrt(D). */
  scale?: number;
  /** Keys a query sees at most, itself included (Mistral / Qwen2 sliding window). */
  slidingWindow?: number;
  /** Gemma 2's attn_logit_softcapping (> 0): scores become softcap * tanh(score / softcap). */
  softcap?: number;
  /** f32 [H] ALiBi slopes (Baichuan 2 13B): the score of key j gets slope[h] * j (j its absolute position). */
  alibiSlopes?: Tensor;
}

function expectPool(op: string, name: string, pool: Tensor): [number, number, number, number] {
  expectF32(op, name, pool);
  if (pool.shape.length !== 4)
    throw new Error(`${op}: ${name} must be [blocks, blockSize, KVH, D], got ${formatShape(pool.shape)}`);
  return pool.shape as [number, number, number, number];
}

function expectI32(op: string, name: string, t: Tensor, shape: readonly number[]): void {
  if (t.dtype !== 'i32' || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new Error(`${op}: ${name} must be i32 ${formatShape(shape)}, got ${t.dtype} ${formatShape(t.shape)}`);
}

/** Copies the step's keys and values into their pool slots (slot = block * blockSize + offset). */
export function pagedKvWrite(k: Tensor, v: Tensor, kPool: Tensor, vPool: Tensor, slots: Tensor): void {
  const op = 'pagedKvWrite';
  const [blocks, blockSize, kvh, d] = expectPool(op, 'kPool', kPool);
  expectPool(op, 'vPool', vPool);
  expectF32(op, 'k', k);
  expectF32(op, 'v', v);
  const row = kvh * d;
  const n = k.numel / row;
  if (!Number.isInteger(n) || v.numel !== k.numel)
    throw new Error(`${op}: k ${formatShape(k.shape)} / v ${formatShape(v.shape)} are not rows of ${kvh} x ${d}`);
  expectI32(op, 'slots', slots, [n]);
  const ids = slots.toInt32Array();
  for (const s of ids)
    if (!(s >= 0 && s < blocks * blockSize))
      throw new Error(`${op}: slot ${s} outside the pool [0, ${blocks * blockSize})`);
  native.pagedKvWrite(k.handle, v.handle, kPool.handle, vPool.handle, slots.handle, n, row);
}

/** out [N, H, D] for q [N, H, D] (any leading dims whose product is N: [1, N, H, D] works too). */
export function pagedAttention(q: Tensor, kPool: Tensor, vPool: Tensor, opts: PagedAttentionOptions): Tensor {
  const op = 'pagedAttention';
  if (isGradEnabled() && q.requiresGrad) throw new Error(`${op}: inference only (run it under noGrad)`);
  expectF32(op, 'q', q);
  const [blocks, blockSize, kvh, d] = expectPool(op, 'kPool', kPool);
  const vShape = expectPool(op, 'vPool', vPool);
  if (vShape.some((x, i) => x !== kPool.shape[i])) throw new Error(`${op}: vPool must have kPool's shape`);
  const shape = q.shape;
  if (shape.length < 2 || shape.at(-1) !== d) throw new Error(`${op}: q ${formatShape(shape)} must end in [H, ${d}]`);
  const h = shape.at(-2) as number;
  const n = q.numel / (h * d);
  if (h % kvh !== 0 || h / kvh > 64)
    throw new Error(`${op}: ${h} query heads cannot share ${kvh} KV heads (H % KVH must be 0, H / KVH <= 64)`);
  if (opts.blockTable.dtype !== 'i32' || opts.blockTable.shape.length !== 2)
    throw new Error(`${op}: blockTable must be i32 [seqs, maxBlocks], got ${formatShape(opts.blockTable.shape)}`);
  const [seqs, maxBlocks] = opts.blockTable.shape as [number, number];
  expectI32(op, 'seqOf', opts.seqOf, [n]);
  expectI32(op, 'posOf', opts.posOf, [n]);
  // Bounds are checked here so the kernel can trust every index it follows.
  const seqOf = opts.seqOf.toInt32Array();
  const posOf = opts.posOf.toInt32Array();
  const table = opts.blockTable.toInt32Array();
  for (let i = 0; i < n; i++) {
    const s = seqOf[i] as number;
    const p = posOf[i] as number;
    if (!(s >= 0 && s < seqs)) throw new Error(`${op}: seqOf[${i}] = ${s} outside [0, ${seqs})`);
    if (!(p >= 0 && p < maxBlocks * blockSize))
      throw new Error(`${op}: posOf[${i}] = ${p} outside the block table's ${maxBlocks * blockSize} positions`);
    for (let b = 0; b <= Math.floor(p / blockSize); b++) {
      const id = table[s * maxBlocks + b] as number;
      if (!(id >= 0 && id < blocks)) throw new Error(`${op}: blockTable[${s}][${b}] = ${id} outside [0, ${blocks})`);
    }
  }
  const window = opts.slidingWindow ?? 0;
  if (!Number.isSafeInteger(window) || window < 0) throw new Error(`${op}: slidingWindow must be an integer >= 1`);
  const scale = opts.scale ?? 1 / Math.sqrt(d);
  if (!Number.isFinite(scale)) throw new Error(`${op}: scale must be finite, got ${scale}`);
  const softcap = opts.softcap ?? 0;
  if (opts.softcap !== undefined && !(Number.isFinite(softcap) && softcap > 0))
    throw new Error(`${op}: softcap must be a finite number > 0 (attn_logit_softcapping), got ${opts.softcap}`);
  const slopes = opts.alibiSlopes;
  if (slopes && (slopes.dtype !== 'f32' || slopes.ndim !== 1 || slopes.shape[0] !== h))
    throw new Error(`${op}: alibiSlopes must be f32 [${h}], got ${slopes.dtype} ${formatShape(slopes.shape)}`);
  const out = Tensor.empty(shape);
  native.pagedAttention(
    q.handle,
    kPool.handle,
    vPool.handle,
    out.handle,
    opts.blockTable.handle,
    opts.seqOf.handle,
    opts.posOf.handle,
    n,
    h,
    kvh,
    d,
    blockSize,
    maxBlocks,
    scale,
    window,
    softcap,
    slopes?.handle ?? null,
  );
  return out;
}
