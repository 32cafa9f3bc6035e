/**
 * Fused causal self-attention (native/src/kernels/attention.cc), forward and backward side by side.
 *
 *   attention(q [B, T, H, D], k [B, S, KVH, D], v [B, S, KVH, D], { causal, scale, keyMask, segmentIds,
 *             queryOffset, slidingWindow }) -> out [B, T, H, D]
 *
 * The layout is what a linear projection reshaped gives ([B*T, H*D] -> [B, T, H, D]): no transposes. Rules (HF
 * Llama's, see tests/fixtures/parity/llama-tiny/README.md): scores = q.k * scale, softmax in f32; query head h reads
 * KV head floor(h / (H / KVH)); query t sits at absolute key position queryOffset + t (default S - T, so a KV-cache
 * step with T = 1 sees all S keys) and, when causal, sees keys j <= queryOffset + t; keyMask [B, S] (1 = token,
 * 0 = padding) hides padded keys from every query; segmentIds [B, T] (packed sequences, T == S) keeps a query to
 * the keys of its own segment; slidingWindow w (causal only) keeps query i = queryOffset + t to keys j with
 * i - w < j <= i, at most w keys counting itself, as HF's sliding-window mask (`kv_idx > q_idx - sliding_window`),
 * and costs O(T * w) instead of O(T * S). A query that sees no key at all (a left-padded position) gets output 0 and sends
 * no gradient, never NaN.
 *
 * Memory: the forward saves only the logsumexp of every row ([B, H, T]); the backward recomputes the scores tile by
 * tile (FlashAttention-2). The saved tensors live in the scope that called attention(), like every op's inputs.
 */
import { record } from '../autograd.js';
import { native } from '../native.js';
import { formatShape, Tensor } from '../tensor.js';
import { expectF32, expectRank } from './check.js';
import { getMatmulPrecision } from './matmul.js';

export interface AttentionOptions {
  /** Mask keys after the query's own position (default true). */
  causal?: boolean;
  /** Score scale (default 1 / sqrt(D)). */
  scale?: number;
  /** i32 [B, S]: 1 = real token, 0 = padding, masked for every query. */
  keyMask?: Tensor;
  /** i32 [B, T] with T == S: a query attends only to keys with its own segment id (packed sequences). */
  segmentIds?: Tensor;
  /** Absolute key index of query row 0 (default S - T). */
  queryOffset?: number;
  /** Sliding window (causal only): a query sees at most this many keys, itself included. */
  slidingWindow?: number;
  /** Soft-capping (Gemma 2's attn_logit_softcapping): scores become softcap * tanh(score / softcap), > 0. */
  softcap?: number;
  /** f32 [H] ALiBi slopes (Baichuan 2 13B): the score of key j gets slope[h] * j (j its absolute key index). */
  alibiSlopes?: Tensor;
}

/** out [B, T, H, D] = softmax(q k^T * scale + masks) v, per head, with grouped-query KV heads. */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const op = 'attention';
  expectF32(op, 'q', q);
  expectF32(op, 'k', k);
  expectF32(op, 'v', v);
  expectRank(op, 'q [B, T, H, D]', q, 4);
  expectRank(op, 'k [B, S, KVH, D]', k, 4);
  expectRank(op, 'v [B, S, KVH, D]', v, 4);
  const [B, T, H, D] = q.shape as [number, number, number, number];
  const [kB, S, KVH, kD] = k.shape as [number, number, number, number];
  if (kB !== B || kD !== D)
    throw new Error(
      `${op}: k ${formatShape(k.shape)} does not match q ${formatShape(q.shape)} (want [${B}, S, KVH, ${D}])`,
    );
  if (v.shape.some((d, i) => d !== k.shape[i]))
    throw new Error(`${op}: v ${formatShape(v.shape)} must have k's shape ${formatShape(k.shape)}`);
  if ([B, T, H, D, S, KVH].some((d) => d === 0))
    throw new Error(`${op}: empty input (q ${formatShape(q.shape)}, k ${formatShape(k.shape)})`);
  if (H % KVH !== 0)
    throw new Error(
      `${op}: ${H} query heads cannot share ${KVH} KV heads evenly (H % KVH must be 0); check num_key_value_heads`,
    );
  const causal = opts.causal ?? true;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const queryOffset = opts.queryOffset ?? S - T;
  if (!Number.isInteger(queryOffset) || queryOffset < 0)
    throw new Error(`${op}: queryOffset must be an integer >= 0, got ${queryOffset} (T = ${T}, S = ${S})`);
  if (!Number.isFinite(scale)) throw new Error(`${op}: scale must be finite, got ${scale}`);
  const window = opts.slidingWindow ?? 0;
  if (opts.slidingWindow !== undefined) {
    if (!Number.isSafeInteger(window) || window < 1)
      throw new Error(`${op}: slidingWindow must be an integer >= 1 (keys a query sees), got ${window}`);
    if (!causal) throw new Error(`${op}: slidingWindow needs causal attention (HF defines it over causal masks only)`);
  }
  const softcap = opts.softcap ?? 0;
  if (opts.softcap !== undefined && !(Number.isFinite(softcap) && softcap > 0))
    throw new Error(`${op}: softcap must be a finite number > 0 (attn_logit_softcapping), got ${opts.softcap}`);
  const { keyMask, segmentIds, alibiSlopes } = opts;
  if (alibiSlopes && (alibiSlopes.dtype !== 'f32' || alibiSlopes.ndim !== 1 || alibiSlopes.shape[0] !== H))
    throw new Error(
      `${op}: alibiSlopes must be f32 [${H}], got ${alibiSlopes.dtype} ${formatShape(alibiSlopes.shape)}`,
    );
  if (keyMask) expectI32Shape(op, 'keyMask', keyMask, [B, S]);
  if (segmentIds) {
    if (T !== S) throw new Error(`${op}: segmentIds need T == S (packed self-attention), got T = ${T}, S = ${S}`);
    expectI32Shape(op, 'segmentIds', segmentIds, [B, T]);
  }
  const dims = [
    B,
    T,
    S,
    H,
    KVH,
    D,
    causal,
    scale,
    queryOffset,
    keyMask?.handle ?? null,
    segmentIds?.handle ?? null,
    window,
    softcap,
    alibiSlopes?.handle ?? null,
    // bf16 matmul precision: the products take bf16 operands (f32 sums, f32 softmax), as autocast runs attention's
    // matmuls; captured here so the backward recomputes the forward's scores.
    getMatmulPrecision() === 'bf16',
  ];

  const out = Tensor.empty([B, T, H, D]);
  const lse = Tensor.empty([B, H, T]);
  native.attentionForward(q.handle, k.handle, v.handle, out.handle, lse.handle, ...dims);
  // The backward needs out itself; a detached view keeps its storage alive even if the caller disposes `out`.
  const saved = out.detach();
  const recorded = record(out, op, [q, k, v], (g, needs) => {
    const dq = Tensor.empty(q.shape);
    const dk = Tensor.empty(k.shape);
    const dv = Tensor.empty(v.shape);
    native.attentionBackward(
      q.handle,
      k.handle,
      v.handle,
      saved.handle,
      lse.handle,
      g.handle,
      dq.handle,
      dk.handle,
      dv.handle,
      ...dims,
    );
    const grads = [dq, dk, dv];
    return grads.map((t, i) => {
      if (needs[i]) return t;
      t.dispose();
      return null;
    });
  });
  if (!recorded) {
    saved.dispose();
    lse.dispose();
  }
  return out;
}

function expectI32Shape(op: string, name: string, t: Tensor, shape: number[]): void {
  if (t.dtype !== 'i32' || t.ndim !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new Error(`${op}: ${name} must be i32 ${formatShape(shape)}, got ${t.dtype} ${formatShape(t.shape)}`);
}
