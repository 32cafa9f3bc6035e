/**
 * Global gradient norm and clipping with torch.nn.utils.clip_grad_norm_'s semantics (L2 norm over all gradients
 * together). The per-tensor sums of squares are native and accumulate in double.
 */
import { native } from '../native.js';
import type { Tensor } from '../tensor.js';
import { sumSquaresValue } from './sum-squares.js';

/** sqrt(sum over every tensor of sum(t^2)); null entries (parameters without a gradient) are skipped. */
export function gradNorm(tensors: readonly (Tensor | null | undefined)[]): number {
  let total = 0;
  for (const t of tensors) if (t) total += sumSquaresValue(t);
  return Math.sqrt(total);
}

export class NonFiniteGradNormError extends Error {
  constructor(readonly norm: number) {
    super(
      `the total gradient norm is ${norm}: a loss or gradient overflowed. Lower the learning rate, check the data for empty or extreme examples, or pass errorIfNonfinite: false and skip the step.`,
    );
    this.name = 'NonFiniteGradNormError';
  }
}

export interface ClipOptions {
  /** Throw NonFiniteGradNormError when the norm is NaN or infinite (default false: return it). */
  errorIfNonfinite?: boolean;
}

/**
 * Scales the gradients in place so that their global L2 norm is at most maxNorm, as clip_grad_norm_(norm_type=2):
 * coef = maxNorm / (total + 1e-6), applied only when coef < 1. Returns the total norm before clipping.
 * A non-finite norm leaves the gradients untouched (torch would multiply them by 0 or NaN) and is returned, so the
 * caller can skip the step; with errorIfNonfinite it throws instead.
 */
export function clipGradNorm_(
  grads: readonly (Tensor | null | undefined)[],
  maxNorm: number,
  { errorIfNonfinite = false }: ClipOptions = {},
): number {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm_: maxNorm must be > 0, got ${maxNorm}`);
  const total = gradNorm(grads);
  if (!Number.isFinite(total)) {
    if (errorIfNonfinite) throw new NonFiniteGradNormError(total);
    return total;
  }
  // torch forms the coefficient from its f32 norm: f32(maxNorm) * reciprocal(f32(norm) + 1e-6), all in f32.
  const f = Math.fround;
  const coef = f(f(1 / f(f(total) + f(1e-6))) * f(maxNorm));
  if (coef < 1) for (const g of grads) if (g) native.scale(g.handle, coef, g.handle, g.numel);
  return total;
}
