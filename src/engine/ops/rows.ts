/**
 * Row arithmetic the preference losses need, as compositions of recorded ops (so forward and backward come from
 * add/scale/matmul):
 *
 *   sub(a, b) = a - b                                 addScalar(a, c) = a + c (c a constant)
 *   sumLastDim(x [..., N]) -> [...]                   (a GEMM with a ones column)
 *   takeRows(x [R, ...], rows) -> [rows.length, ...]  (a GEMM with one-hot rows: picks values exactly)
 */
import { Tensor } from '../tensor.js';
import { add, full, scale } from './elementwise.js';
import { matmul } from './matmul.js';

export function sub(a: Tensor, b: Tensor): Tensor {
  return add(a, scale(b, -1));
}

export function addScalar(a: Tensor, c: number): Tensor {
  return add(a, full(a.shape, c));
}

/** Sums the last dimension: x [..., N] -> [...] (a [N] vector gives a scalar of shape [1]). */
export function sumLastDim(x: Tensor): Tensor {
  const n = x.shape.at(-1);
  if (n === undefined) throw new Error('sumLastDim: x must have rank >= 1');
  const lead = x.shape.slice(0, -1);
  const rows = lead.reduce((a, b) => a * b, 1);
  const sums = matmul(x.reshape([rows, n]), full([n, 1], 1));
  return sums.reshape(lead.length > 0 ? lead : [1]);
}

/** The rows `rows` of x (in that order, repeats allowed): x [R, ...] -> [rows.length, ...]. */
export function takeRows(x: Tensor, rows: readonly number[]): Tensor {
  const r = x.shape[0];
  if (r === undefined) throw new Error('takeRows: x must have rank >= 1');
  if (rows.length === 0) throw new Error('takeRows: no rows requested');
  const inner = x.shape.slice(1);
  const k = inner.reduce((a, b) => a * b, 1);
  const pick = new Float32Array(rows.length * r);
  rows.forEach((row, i) => {
    if (!Number.isInteger(row) || row < 0 || row >= r) throw new Error(`takeRows: row ${row} is outside [0, ${r})`);
    pick[i * r + row] = 1;
  });
  return matmul(Tensor.from(pick, [rows.length, r]), x.reshape([r, k])).reshape([rows.length, ...inner]);
}
