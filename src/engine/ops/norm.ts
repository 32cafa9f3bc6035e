/** RMSNorm as HF's LlamaRMSNorm (and Qwen3's per-head q/k norm) computes it, forward and backward. */
import { record } from '../autograd.js';
import { native } from '../native.js';
import { formatShape, Tensor } from '../tensor.js';
import { expectF32 } from './check.js';

/**
 * y = weight * (x / sqrt(mean(x^2 over the last dim) + eps)), in f32.
 *
 * @param x      f32 [..., C]: hidden states [B, T, C], or per-head q/k [B, T, H, D] with C = D (Qwen3)
 * @param weight [C] f32 (bf16/f16 are widened once per call); may be frozen, then its gradient is skipped
 * @param eps    config.rms_norm_eps
 * @returns      f32, the shape of x
 *
 * The forward saves one rstd per row (N = numel / C floats) for the backward; like every saved activation it
 * lives in the scope of the forward, so forward and backward must run inside the same scope.
 * Backward: dx, and dweight summed over rows in a fixed order (the same for any thread count).
 */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  expectF32('rmsNorm', 'x', x);
  const C = x.shape[x.ndim - 1] ?? 0;
  if (x.ndim < 1 || weight.ndim !== 1 || weight.shape[0] !== C || weight.dtype === 'i32')
    throw new Error(
      `rmsNorm: weight must be [C] f32/bf16/f16 with C = x's last dim; got weight ${formatShape(weight.shape)} ${weight.dtype} for x ${formatShape(x.shape)}`,
    );
  if (!(eps >= 0)) throw new Error(`rmsNorm: eps must be a number >= 0, got ${eps}`);
  const N = C === 0 ? 0 : x.numel / C;
  const w = weight.dtype === 'f32' ? weight : weight.to('f32');
  const out = Tensor.empty(x.shape);
  const rstd = Tensor.empty([N]);
  native.rmsNormForward(x.handle, w.handle, out.handle, rstd.handle, N, C, eps);
  const recorded = record(out, 'rmsNorm', [x, weight], (g, needs) => {
    const dx = needs[0] ? Tensor.empty(x.shape) : null;
    const dweight = needs[1] ? Tensor.empty([C]) : null;
    native.rmsNormBackward(
      x.handle,
      w.handle,
      rstd.handle,
      g.handle,
      dx?.handle ?? null,
      dweight?.handle ?? null,
      N,
      C,
    );
    return [dx, dweight];
  });
  if (!recorded) {
    rstd.dispose();
    if (w !== weight) w.dispose();
  }
  return out;
}
