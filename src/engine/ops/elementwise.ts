/** Elementwise add, mul, scale (forward and backward side by side), and the in-place helpers autograd uses. */
import { record, setGradMath } from '../autograd.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { expectF32, expectSameShape } from './check.js';

/** out = a + b (same shapes). */
export function add(a: Tensor, b: Tensor): Tensor {
  expectF32('add', 'a', a);
  expectF32('add', 'b', b);
  expectSameShape('add', a, b);
  const out = Tensor.empty(a.shape);
  native.add(a.handle, b.handle, out.handle, out.numel);
  // da = g, db = g: views of g (autograd copies before writing into a shared gradient)
  record(out, 'add', [a, b], (g, needs) => [needs[0] ? g.detach() : null, needs[1] ? g.detach() : null]);
  return out;
}

/** out = a * b (same shapes). */
export function mul(a: Tensor, b: Tensor): Tensor {
  expectF32('mul', 'a', a);
  expectF32('mul', 'b', b);
  expectSameShape('mul', a, b);
  const out = Tensor.empty(a.shape);
  native.mul(a.handle, b.handle, out.handle, out.numel);
  record(out, 'mul', [a, b], (g, needs) => [needs[0] ? mulRaw(g, b) : null, needs[1] ? mulRaw(g, a) : null]);
  return out;
}

/** out = s * a. */
export function scale(a: Tensor, s: number): Tensor {
  expectF32('scale', 'a', a);
  const out = Tensor.empty(a.shape);
  native.scale(a.handle, s, out.handle, out.numel);
  record(out, 'scale', [a], (g) => [scaleRaw(g, s)]);
  return out;
}

/** y += alpha * x, in place, never recorded (gradient accumulation, optimizer helpers). */
export function axpy_(alpha: number, x: Tensor, y: Tensor): void {
  expectF32('axpy_', 'x', x);
  expectF32('axpy_', 'y', y);
  if (x.numel !== y.numel) throw new Error(`axpy_: ${x.numel} vs ${y.numel} values`);
  native.axpy(alpha, x.handle, y.handle, y.numel);
}

/** Sets every value of t to v, in place. */
export function fill_(t: Tensor, v: number): Tensor {
  expectF32('fill_', 't', t);
  native.fill(t.handle, v, t.numel);
  return t;
}

export function full(shape: readonly number[], v: number): Tensor {
  return fill_(Tensor.empty(shape), v);
}

/** A copy with no history. */
export function clone(t: Tensor): Tensor {
  return t.to(t.dtype);
}

function mulRaw(a: Tensor, b: Tensor): Tensor {
  const out = Tensor.empty(a.shape);
  native.mul(a.handle, b.handle, out.handle, out.numel);
  return out;
}

function scaleRaw(a: Tensor, s: number): Tensor {
  const out = Tensor.empty(a.shape);
  native.scale(a.handle, s, out.handle, out.numel);
  return out;
}

setGradMath({ ones: (shape) => full(shape, 1), addInPlace: (into, g) => axpy_(1, g, into), clone });
