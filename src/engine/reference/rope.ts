/**
 * Float64 reference of rotate-half RoPE (tests only). The angle inv_freq * position is rounded to float32 first,
 * because that product is part of HF's definition (it builds `freqs` in float32); everything after is float64.
 */

/**
 * x [B*T, H, D], positions [B*T], invFreq [R/2] -> out; transpose = the backward's rotation by -angle. R < D is
 * partial rotary: dims [R, D) pass through.
 */
export function ropeRef(
  x: Float64Array,
  positions: ArrayLike<number>,
  invFreq: ArrayLike<number>,
  H: number,
  D: number,
  attentionFactor = 1,
  transpose = false,
): Float64Array {
  const h = invFreq.length;
  const out = Float64Array.from(x);
  for (let t = 0; t < positions.length; t++) {
    for (let i = 0; i < h; i++) {
      const angle = Math.fround((invFreq[i] as number) * (positions[t] as number));
      const c = Math.cos(angle) * attentionFactor;
      const s = (transpose ? -1 : 1) * Math.sin(angle) * attentionFactor;
      for (let hd = 0; hd < H; hd++) {
        const o = (t * H + hd) * D;
        const a = x[o + i] as number;
        const b = x[o + i + h] as number;
        out[o + i] = a * c - b * s;
        out[o + i + h] = b * c + a * s;
      }
    }
  }
  return out;
}

/** inv_freq in plain float64 from the published formulas (no float32 steps), to cross-check ropeInvFreq. */
export function ropeInvFreqF64(theta: number, dim: number): Float64Array {
  return Float64Array.from({ length: dim / 2 }, (_, i) => theta ** ((-2 * i) / dim));
}
