/** Float64 reference of the embedding lookup and its scatter-add backward (tests only). */

/** weight [V, C], ids [N] -> out [N, C] */
export function embeddingRef(weight: Float64Array, ids: ArrayLike<number>, C: number): Float64Array {
  const out = new Float64Array(ids.length * C);
  for (let n = 0; n < ids.length; n++)
    out.set(weight.subarray((ids[n] as number) * C, ((ids[n] as number) + 1) * C), n * C);
  return out;
}

/** g [N, C] -> dWeight [V, C] */
export function embeddingBackwardRef(g: Float64Array, ids: ArrayLike<number>, V: number, C: number): Float64Array {
  const dw = new Float64Array(V * C);
  for (let n = 0; n < ids.length; n++) {
    const row = (ids[n] as number) * C;
    for (let c = 0; c < C; c++) dw[row + c] = (dw[row + c] as number) + (g[n * C + c] as number);
  }
  return dw;
}
