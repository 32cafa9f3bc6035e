/** Float64 reference of RMSNorm over the last dim, forward and backward (tests only). */

/** x [N, C], w [C] -> y [N, C] */
export function rmsNormRef(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  const C = w.length;
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += (x[r * C + c] as number) ** 2;
    const rstd = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = (w[c] as number) * (x[r * C + c] as number) * rstd;
  }
  return y;
}

/**
 * dx[n,c] = rstd * g*w - x * rstd^3 * mean_c(g*w*x);  dw[c] = sum_n g * x * rstd
 */
export function rmsNormBackwardRef(
  x: Float64Array,
  w: Float64Array,
  eps: number,
  g: Float64Array,
): { dx: Float64Array; dw: Float64Array } {
  const C = w.length;
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(C);
  for (let r = 0; r < x.length / C; r++) {
    let ss = 0;
    let dot = 0;
    for (let c = 0; c < C; c++) {
      const xv = x[r * C + c] as number;
      ss += xv * xv;
      dot += (g[r * C + c] as number) * (w[c] as number) * xv;
    }
    const rstd = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      const xv = x[i] as number;
      dx[i] = rstd * (g[i] as number) * (w[c] as number) - xv * rstd ** 3 * (dot / C);
      dw[c] = (dw[c] as number) + (g[i] as number) * xv * rstd;
    }
  }
  return { dx, dw };
}
