/**
 * Float64 reference for attention (tests only): the full softmax per query row, written from the definition, with
 * the same masking rules as the fused kernel (causal, sliding window, key padding, segments, query offset,
 * grouped-query heads).
 * A row with no visible key has output 0 and gradient 0.
 */
export interface AttentionDims {
  B: number;
  T: number;
  S: number;
  H: number;
  KVH: number;
  D: number;
}

export interface AttentionRefOptions {
  causal?: boolean;
  scale?: number;
  keyMask?: ArrayLike<number>;
  segmentIds?: ArrayLike<number>;
  queryOffset?: number;
  /** Query i = off + t sees key j only when i - j < slidingWindow (with causal: at most that many keys). */
  slidingWindow?: number;
  /** Gemma 2's attn_logit_softcapping: scores become softcap * tanh(score / softcap) before the softmax. */
  softcap?: number;
  /** ALiBi: score += slopes[h] * j. */
  alibiSlopes?: ArrayLike<number>;
}

/** d(capped score)/d(scaled score) at the capped score s: 1 - (s / softcap)^2 (1 without soft-capping). */
function capDerivative(s: number, softcap: number | undefined): number {
  return softcap ? 1 - (s / softcap) ** 2 : 1;
}

/** The scaled, soft-capped score of query (b, h, t) against key j. */
function score(
  q: Float64Array,
  k: Float64Array,
  dims: AttentionDims,
  opts: AttentionRefOptions,
  b: number,
  h: number,
  t: number,
  j: number,
): number {
  const { T, S, H, KVH, D } = dims;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const g = Math.floor(h / (H / KVH));
  let dot = 0;
  for (let d = 0; d < D; d++)
    dot += (q[((b * T + t) * H + h) * D + d] as number) * (k[((b * S + j) * KVH + g) * D + d] as number);
  const capped = opts.softcap ? opts.softcap * Math.tanh((dot * scale) / opts.softcap) : dot * scale;
  return capped + (opts.alibiSlopes ? (opts.alibiSlopes[h] as number) * j : 0);
}

/** Softmax weights p[j] of query (b, h, t) over its S keys (0 for invisible keys); null when none is visible. */
function rowProbs(
  q: Float64Array,
  k: Float64Array,
  dims: AttentionDims,
  opts: AttentionRefOptions,
  b: number,
  h: number,
  t: number,
): Float64Array | null {
  const { T, S } = dims;
  const off = opts.queryOffset ?? S - T;
  const s = new Float64Array(S).fill(Number.NEGATIVE_INFINITY);
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < S; j++) {
    if ((opts.causal ?? true) && j > off + t) continue;
    if (opts.slidingWindow !== undefined && off + t - j >= opts.slidingWindow) continue;
    if (opts.keyMask && opts.keyMask[b * S + j] === 0) continue;
    if (opts.segmentIds && opts.segmentIds[b * T + t] !== opts.segmentIds[b * T + j]) continue;
    s[j] = score(q, k, dims, opts, b, h, t, j);
    max = Math.max(max, s[j] as number);
  }
  if (max === Number.NEGATIVE_INFINITY) return null;
  let sum = 0;
  for (let j = 0; j < S; j++) {
    const e = Math.exp((s[j] as number) - max);
    s[j] = e;
    sum += e;
  }
  for (let j = 0; j < S; j++) s[j] = (s[j] as number) / sum;
  return s;
}

/** out [B, T, H, D] from q [B, T, H, D], k, v [B, S, KVH, D]. */
export function attentionRef(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  dims: AttentionDims,
  opts: AttentionRefOptions = {},
): Float64Array {
  const { B, T, S, H, KVH, D } = dims;
  const out = new Float64Array(B * T * H * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KVH));
      for (let t = 0; t < T; t++) {
        const p = rowProbs(q, k, dims, opts, b, h, t);
        if (!p) continue;
        const o = ((b * T + t) * H + h) * D;
        for (let j = 0; j < S; j++) {
          const pj = p[j] as number;
          if (pj === 0) continue;
          for (let d = 0; d < D; d++)
            out[o + d] = (out[o + d] as number) + pj * (v[((b * S + j) * KVH + g) * D + d] as number);
        }
      }
    }
  return out;
}

/** Gradients of sum(out * dout) with respect to q, k and v. */
export function attentionBackwardRef(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  dout: Float64Array,
  dims: AttentionDims,
  opts: AttentionRefOptions = {},
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { B, T, S, H, KVH, D } = dims;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KVH));
      for (let t = 0; t < T; t++) {
        const p = rowProbs(q, k, dims, opts, b, h, t);
        if (!p) continue;
        const o = ((b * T + t) * H + h) * D;
        // dp[j] = dout . v_j; ds[j] = p[j] * (dp[j] - sum_j' p[j'] dp[j'])
        const dp = new Float64Array(S);
        let pdp = 0;
        for (let j = 0; j < S; j++) {
          if (p[j] === 0) continue;
          let acc = 0;
          for (let d = 0; d < D; d++) acc += (dout[o + d] as number) * (v[((b * S + j) * KVH + g) * D + d] as number);
          dp[j] = acc;
          pdp += (p[j] as number) * acc;
        }
        for (let j = 0; j < S; j++) {
          const pj = p[j] as number;
          if (pj === 0) continue;
          const kv = ((b * S + j) * KVH + g) * D;
          const alibi = opts.alibiSlopes ? (opts.alibiSlopes[h] as number) * j : 0;
          const cap = capDerivative(score(q, k, dims, opts, b, h, t, j) - alibi, opts.softcap);
          const ds = pj * ((dp[j] as number) - pdp) * scale * cap;
          for (let d = 0; d < D; d++) {
            dv[kv + d] = (dv[kv + d] as number) + pj * (dout[o + d] as number);
            dq[o + d] = (dq[o + d] as number) + ds * (k[kv + d] as number);
            dk[kv + d] = (dk[kv + d] as number) + ds * (q[o + d] as number);
          }
        }
      }
    }
  return { dq, dk, dv };
}
