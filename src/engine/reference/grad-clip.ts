/** Float64 references for sum of squares, the global gradient norm and its clipping (tests only). */
export function sumSquaresRef(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] as number) * (x[i] as number);
  return s;
}

export function gradNormRef(grads: readonly ArrayLike<number>[]): number {
  return Math.sqrt(grads.reduce((s, g) => s + sumSquaresRef(g), 0));
}

/** Returns the clipped copies and the norm (coef = maxNorm / (norm + 1e-6), applied when < 1). */
export function clipGradNormRef(
  grads: readonly Float64Array[],
  maxNorm: number,
): { grads: Float64Array[]; norm: number } {
  const norm = gradNormRef(grads);
  const coef = maxNorm / (norm + 1e-6);
  return { grads: grads.map((g) => (coef < 1 ? g.map((v) => v * coef) : Float64Array.from(g))), norm };
}
