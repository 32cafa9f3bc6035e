/**
 * A column block of the last dimension, forward and backward side by side: how a fused projection's output (GLM's
 * query_key_value, gate_up_proj) is cut into its parts. Each row is one block copy (native memcpy), so the cost is
 * one pass over the kept values, with no arithmetic.
 */
import { record } from '../autograd.js';
import { native } from '../native.js';
import { formatShape, Tensor } from '../tensor.js';
import { expectF32 } from './check.js';

/**
 * x[..., start : start + length].
 *
 * @param x f32 [..., K]
 * @returns f32 [..., length] (a new tensor, not a view)
 *
 * Backward: dx = zeros [..., K] with g written into columns [start, start + length).
 */
export function narrowLastDim(x: Tensor, start: number, length: number): Tensor {
  expectF32('narrowLastDim', 'x', x);
  const k = x.shape.at(-1);
  if (k === undefined) throw new Error('narrowLastDim: x must have rank >= 1');
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 1 || start + length > k)
    throw new Error(`narrowLastDim: columns [${start}, ${start + length}) are outside x ${formatShape(x.shape)}`);
  const rows = x.numel / k;
  const shape = [...x.shape.slice(0, -1), length];
  const out = Tensor.empty(shape);
  copyColumns(x, k, start, out, length, 0, rows, length);
  record(out, 'narrowLastDim', [x], (g) => {
    const dx = Tensor.zeros(x.shape);
    copyColumns(g, length, 0, dx, k, start, rows, length);
    return [dx];
  });
  return out;
}

// dst[r, dstStart + j] = src[r, srcStart + j] for r < rows, j < width (row-major f32 matrices)
function copyColumns(
  src: Tensor,
  srcCols: number,
  srcStart: number,
  dst: Tensor,
  dstCols: number,
  dstStart: number,
  rows: number,
  width: number,
): void {
  if (srcCols === width && dstCols === width) {
    native.copy(src.handle, 0, dst.handle, 0, rows * width * 4);
    return;
  }
  for (let r = 0; r < rows; r++)
    native.copy(src.handle, (r * srcCols + srcStart) * 4, dst.handle, (r * dstCols + dstStart) * 4, width * 4);
}
