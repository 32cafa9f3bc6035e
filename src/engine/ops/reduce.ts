/** Whole-tensor reductions to a scalar (losses, tests), forward and backward side by side. */
import { record } from '../autograd.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { expectF32 } from './check.js';

/**
 * sum of every value, accumulated in float64 by the kernel (fixed blocks, fixed order) and rounded once.
 *
 * @param x f32, any shape
 * @returns f32 scalar (shape [])
 */
export function sumAll(x: Tensor): Tensor {
  return reduceAll('sumAll', x, 1);
}

/**
 * mean of every value (NaN for an empty tensor, as PyTorch gives), accumulated in float64.
 *
 * @param x f32, any shape
 * @returns f32 scalar (shape [])
 */
export function meanAll(x: Tensor): Tensor {
  return reduceAll('meanAll', x, 1 / x.numel);
}

// out = scale * sum(x);  dx = scale * g everywhere
function reduceAll(name: string, x: Tensor, scale: number): Tensor {
  expectF32(name, 'x', x);
  const out = Tensor.empty([]);
  native.sumAll(x.handle, out.handle, x.numel, scale);
  record(out, name, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    native.broadcastScalar(g.handle, scale, dx.handle, dx.numel);
    return [dx];
  });
  return out;
}
