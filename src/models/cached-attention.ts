/**
 * A decoder layer's attention over whichever KV store the pass has: the serving scheduler's paged cache
 * (ctx.paged), generate()'s contiguous cache (ctx.cache), or none (training and scoring: the batch's own keys, with
 * its padding mask and packed-sequence ids). Every family calls this after its projections and rotary embedding, so
 * each one serves under the scheduler with the scoring it trains with.
 * Shapes: B batch, T new tokens, H heads, KVH key/value heads, D head_dim.
 */
import { attention, type Tensor } from '../engine/index.js';
import type { AttentionScoring, ForwardContext } from './family.js';

/** q [B, T, H, D], k, v [B, T, KVH, D] (this step's keys, stored into the cache first) -> [B, T, H, D] */
export function cachedAttention(
  ctx: ForwardContext,
  layer: number,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  scoring: AttentionScoring = {},
): Tensor {
  if (ctx.paged) return ctx.paged.attend(layer, q, k, v, scoring);
  if (ctx.cache) {
    ctx.cache.write(layer, k, v);
    return attention(q, ctx.cache.keys[layer] as Tensor, ctx.cache.values[layer] as Tensor, {
      ...scoring,
      keyMask: ctx.cache.keyMask,
      queryOffset: ctx.cache.length,
    });
  }
  return attention(q, k, v, { ...scoring, keyMask: ctx.keyMask, segmentIds: ctx.segmentIds });
}
