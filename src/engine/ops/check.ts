/** Argument checks shared by the ops: a wrong shape or dtype is a programming error with a precise message. */
import { formatShape, shapeEquals, type Tensor } from '../tensor.js';

export function expectF32(op: string, name: string, t: Tensor): void {
  if (t.dtype !== 'f32') throw new Error(`${op}: ${name} must be f32, got ${t.dtype} ${formatShape(t.shape)}`);
}

export function expectSameShape(op: string, a: Tensor, b: Tensor): void {
  if (!shapeEquals(a.shape, b.shape))
    throw new Error(`${op}: shapes differ: ${formatShape(a.shape)} vs ${formatShape(b.shape)}`);
}

export function expectRank(op: string, name: string, t: Tensor, rank: number): void {
  if (t.ndim !== rank) throw new Error(`${op}: ${name} must have rank ${rank}, got ${formatShape(t.shape)}`);
}
