/**
 * The row ops of sparse mixture-of-experts routing (native/src/kernels/moe_routing.cc), forward and backward side by
 * side. An MoE block sorts its tokens by expert with gatherRows, runs one GEMM per expert over its rows, and adds the
 * weighted outputs back with scatterAddRows: no per-token work outside the kernels.
 *
 *   softmaxRows(x [R, E]) -> [R, E]                      softmax over the last dimension (router probabilities)
 *   gatherRows(x [R, C], rows i32 [M]) -> [M, C]        out[i] = x[rows[i]]; backward index-adds into dx [R, C]
 *   scatterAddRows(parts [M_p, C]..., rows [M_p]..., R) -> [R, C]   out[rows_p[i]] += parts_p[i]; backward gathers
 */
import { record } from '../autograd.js';
import { DTYPE_CODE } from '../dtype.js';
import { native } from '../native.js';
import { formatShape, Tensor } from '../tensor.js';
import { expectF32 } from './check.js';

/** softmax over the last dimension, accumulated in double; the backward reads the saved output. */
export function softmaxRows(x: Tensor): Tensor {
  expectF32('softmaxRows', 'x', x);
  const e = x.shape.at(-1);
  if (e === undefined || e === 0)
    throw new Error(`softmaxRows: x must have a non-empty last dimension, got ${formatShape(x.shape)}`);
  const r = x.numel / e;
  const out = Tensor.empty(x.shape);
  native.softmaxRowsForward(x.handle, out.handle, r, e);
  record(out, 'softmaxRows', [x], (g) => {
    const dx = Tensor.empty(x.shape);
    native.softmaxRowsBackward(out.handle, g.handle, dx.handle, r, e);
    return [dx];
  });
  return out;
}

function expectRows(op: string, rows: Tensor, r: number): number {
  if (rows.dtype !== 'i32' || rows.ndim !== 1)
    throw new Error(`${op}: rows must be an i32 vector, got ${rows.dtype} ${formatShape(rows.shape)}`);
  if (r <= 0) throw new Error(`${op}: the table has no rows`);
  return rows.numel;
}

/** out [M, C] = x[rows[i], :]; backward: dx [R, C] with each row's gradients added up. */
export function gatherRows(x: Tensor, rows: Tensor): Tensor {
  expectF32('gatherRows', 'x', x);
  if (x.ndim !== 2) throw new Error(`gatherRows: x must be [R, C], got ${formatShape(x.shape)}`);
  const [r, c] = x.shape as [number, number];
  const m = expectRows('gatherRows', rows, r);
  const out = Tensor.empty([m, c]);
  native.embeddingForward(x.handle, DTYPE_CODE.f32, rows.handle, out.handle, m, r, c);
  record(out, 'gatherRows', [x], (g) => {
    const dx = Tensor.zeros([r, c]);
    native.indexAddRows(g.handle, rows.handle, dx.handle, m, r, c);
    return [dx];
  });
  return out;
}

/**
 * out [R, C] = sum over parts p of the rows of parts[p] added at rows[p] (zero where no row lands); backward: each
 * part's gradient is the output gradient's rows at its ids.
 */
export function scatterAddRows(parts: readonly Tensor[], rows: readonly Tensor[], r: number): Tensor {
  if (parts.length !== rows.length)
    throw new Error(`scatterAddRows: ${parts.length} parts but ${rows.length} row lists`);
  const c = parts[0]?.shape[1];
  if (c === undefined) throw new Error('scatterAddRows: no parts');
  const out = Tensor.zeros([r, c]);
  parts.forEach((part, p) => {
    expectF32('scatterAddRows', 'part', part);
    const m = expectRows('scatterAddRows', rows[p] as Tensor, r);
    if (part.ndim !== 2 || part.shape[0] !== m || part.shape[1] !== c)
      throw new Error(`scatterAddRows: part ${p} is ${formatShape(part.shape)}, expected [${m}, ${c}]`);
    native.indexAddRows(part.handle, (rows[p] as Tensor).handle, out.handle, m, r, c);
  });
  record(out, 'scatterAddRows', parts, (g, needs) =>
    parts.map((part, p) => {
      if (!needs[p]) return null;
      const dPart = Tensor.empty(part.shape);
      native.embeddingForward(g.handle, DTYPE_CODE.f32, (rows[p] as Tensor).handle, dPart.handle, part.shape[0], r, c);
      return dPart;
    }),
  );
  return out;
}
