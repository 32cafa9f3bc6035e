/**
 * LongLoRA's shifted sparse attention (S²-Attn; `shift_attn`, training only), as LLaMA-Factory's longlora.py patches
 * the Llama attention with group_size_ratio 1/4: with G = floor(T / 4) tokens per group, the second half of the heads
 * (h >= floor(H / 2)) is rolled along the sequence by -G/2 (Python's -G // 2), the sequence is cut into T / G groups
 * attended causally each on its own, and the output's shifted heads are rolled back by G // 2. Every group reuses
 * the key mask of its row's first G keys (LLaMA-Factory repeats the first group's mask). K and V are read per query
 * head (their grouped-query head repeated, as repeat_kv does before the shift).
 *
 * The shift, the grouping and the KV repeat are one row gather [B*T*KVH or H, D] -> [B*T*H, D] (gatherRows, backward
 * an index-add), the shift back another; attention is the fused op over [B * T/G, G, H, D].
 * Shapes: B batch, T tokens, H query heads, KVH key/value heads, D head_dim, G group size.
 */
import { attention, gatherRows, type Tensor, Tensor as TensorValue } from '../engine/index.js';

/** LLaMA-Factory's group_size_ratio for shift_attn. */
export const SHIFT_GROUP_SIZE_RATIO = 0.25;

const floorDiv = (a: number, b: number) => Math.floor(a / b);

/** Row ids taking (b, t, h) of the output from (b, (t + offset(h)) mod T, headOf(h)) of a [B, T, HX, D] input. */
function rollRows(b: number, t: number, h: number, hx: number, roll: number, headOf: (h: number) => number): Tensor {
  const ids = new Int32Array(b * t * h);
  const half = floorDiv(h, 2);
  for (let bi = 0; bi < b; bi++)
    for (let ti = 0; ti < t; ti++)
      for (let hi = 0; hi < h; hi++) {
        // torch.roll(x, s)[t] = x[t - s]
        const src = hi >= half ? (((ti - roll) % t) + t) % t : ti;
        ids[(bi * t + ti) * h + hi] = (bi * t + src) * hx + headOf(hi);
      }
  return TensorValue.from(ids, [b * t * h], 'i32');
}

/**
 * q [B, T, H, D], k/v [B, T, KVH, D] (after RoPE) -> [B, T, H, D], S²-Attn over groups of floor(T * ratio) tokens.
 * keyMask i32 [B, T] or none.
 */
export function shiftedSparseAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  keyMask: Tensor | undefined,
  ratio: number = SHIFT_GROUP_SIZE_RATIO,
): Tensor {
  const [b, t, h, d] = q.shape as [number, number, number, number];
  const kvh = k.shape[2] as number;
  const g = Math.floor(t * ratio);
  if (g === 0 || t % g !== 0)
    throw new Error(
      `shift_attn: the sequence length ${t} is not divisible by its group size ${g} (${ratio} of it); pad batches to a multiple of 4 tokens`,
    );
  const groups = t / g;
  const groupsOf = (x: Tensor) => x.reshape([b * groups, g, h, d]);
  const shift = floorDiv(-g, 2); // Python's -groupsz // 2, rolled forward
  const qIds = rollRows(b, t, h, h, shift, (hi) => hi);
  const kvIds = rollRows(b, t, h, kvh, shift, (hi) => floorDiv(hi, h / kvh));
  const qs = groupsOf(gatherRows(q.reshape([b * t * h, d]), qIds));
  const ks = groupsOf(gatherRows(k.reshape([b * t * kvh, d]), kvIds));
  const vs = groupsOf(gatherRows(v.reshape([b * t * kvh, d]), kvIds));
  let groupMask: Tensor | undefined;
  if (keyMask) {
    const m = keyMask.toInt32Array();
    const rows = new Int32Array(b * groups * g);
    for (let bi = 0; bi < b; bi++)
      for (let gi = 0; gi < groups; gi++) rows.set(m.subarray(bi * t, bi * t + g), (bi * groups + gi) * g);
    groupMask = TensorValue.from(rows, [b * groups, g], 'i32');
  }
  const out = attention(qs, ks, vs, groupMask ? { keyMask: groupMask } : {}); // [B*T/G, G, H, D] = [B, T, H, D]
  const back = rollRows(b, t, h, h, floorDiv(g, 2), (hi) => hi);
  return gatherRows(out.reshape([b * t * h, d]), back).reshape([b, t, h, d]);
}
