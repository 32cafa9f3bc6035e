/** The ways callers hand token ids to the model: number[][], a flat Int32Array with its shape, or an i32 Tensor. */
import { Tensor } from '../engine/index.js';

export type TokenBatch =
  | readonly (readonly number[])[]
  | { data: Int32Array; shape: readonly [number, number] }
  | Tensor;

/** Converts to an i32 tensor [B, T] (a new tensor unless `batch` already is one). */
export function toTokenTensor(batch: TokenBatch, what: string): Tensor {
  if (batch instanceof Tensor) {
    if (batch.dtype !== 'i32' || batch.ndim !== 2)
      throw new Error(`${what} must be an i32 tensor [B, T], got ${batch.toString()}`);
    return batch;
  }
  if ('data' in batch) {
    const [b, t] = batch.shape;
    if (batch.data.length !== b * t)
      throw new Error(`${what}: ${batch.data.length} ids do not fill shape [${b}, ${t}]`);
    return Tensor.from(batch.data, [b, t], 'i32');
  }
  const rows = batch as readonly (readonly number[])[];
  const b = rows.length;
  const t = rows[0]?.length ?? 0;
  if (b === 0 || t === 0) throw new Error(`${what} is empty: expected [B, T] with B, T >= 1`);
  const data = new Int32Array(b * t);
  rows.forEach((row, i) => {
    if (row.length !== t)
      throw new Error(`${what}: row ${i} has ${row.length} ids, row 0 has ${t} (pad rows to one length)`);
    data.set(row, i * t);
  });
  return Tensor.from(data, [b, t], 'i32');
}
