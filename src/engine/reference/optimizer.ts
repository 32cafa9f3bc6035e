/** Float64 references for the optimizer steps (tests only), from torch.optim's AdamW and SGD definitions. */
import type { AdamWHyper, SgdHyper } from '../ops/optimizer.js';

/** One AdamW step in float64, in place on p, m, v. */
export function adamwStepRef(
  p: Float64Array,
  g: Float64Array,
  m: Float64Array,
  v: Float64Array,
  h: AdamWHyper,
  step: number,
): void {
  const bc1 = 1 - h.beta1 ** step;
  const bc2 = 1 - h.beta2 ** step;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] as number;
    const mi = h.beta1 * (m[i] as number) + (1 - h.beta1) * gi;
    const vi = h.beta2 * (v[i] as number) + (1 - h.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const pi = (p[i] as number) * (1 - h.lr * h.weightDecay);
    p[i] = pi - ((h.lr / bc1) * mi) / (Math.sqrt(vi) / Math.sqrt(bc2) + h.eps);
  }
}

/** One SGD step in float64, in place on p and buf (buf is set to the first step's direction). */
export function sgdStepRef(p: Float64Array, g: Float64Array, buf: Float64Array, h: SgdHyper, first: boolean): void {
  for (let i = 0; i < p.length; i++) {
    let d = (g[i] as number) + h.weightDecay * (p[i] as number);
    if (h.momentum !== 0) {
      const b = first ? d : h.momentum * (buf[i] as number) + (1 - h.dampening) * d;
      buf[i] = b;
      d = h.nesterov ? d + h.momentum * b : b;
    }
    p[i] = (p[i] as number) - h.lr * d;
  }
}
