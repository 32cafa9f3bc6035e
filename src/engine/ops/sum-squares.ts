/** Sum of squares (native/src/kernels/sum_squares.cc): the reduction behind gradient norms, and a simple loss. */
import { record } from '../autograd.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { expectF32 } from './check.js';

/** sum(x^2) as a JavaScript number, accumulated in double; the same for every thread count. Not recorded. */
export function sumSquaresValue(x: Tensor): number {
  expectF32('sumSquaresValue', 'x', x);
  return native.sumSquares(x.handle, x.numel);
}

/** sum(x^2) as a scalar tensor (shape []); recorded: dx = 2 * g * x. */
export function sumSquares(x: Tensor): Tensor {
  const out = Tensor.scalar(sumSquaresValue(x));
  record(out, 'sumSquares', [x], (g) => {
    const dx = Tensor.empty(x.shape);
    native.scale(x.handle, 2 * g.item(), dx.handle, x.numel);
    return [dx];
  });
  return out;
}
