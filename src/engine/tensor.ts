import type { GradNode } from './autograd.js';
import { record, backward as runBackward } from './autograd.js';
import { DTYPE_BYTES, DTYPE_CODE, type DType } from './dtype.js';
import { type NativeStorage, native } from './native.js';
import { keep, trackTensor } from './scope.js';
import { Storage } from './storage.js';

export type Shape = readonly number[];

export type TypedArrayFor<D extends DType> = D extends 'i32'
  ? Int32Array
  : D extends 'f32'
    ? Float32Array
    : Uint16Array;

export function numelOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0)
      throw new Error(`invalid shape [${shape.join(', ')}]: dimensions must be integers >= 0`);
    n *= d;
  }
  return n;
}

export function shapeEquals(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function formatShape(s: Shape): string {
  return `[${s.join(', ')}]`;
}

/**
 * A contiguous, row-major n-d array in native memory. Views (reshape) share storage; a tensor's memory is freed
 * by `dispose()` or by the scope that created it. `requiresGrad` leaves collect gradients in `.grad`.
 */
export class Tensor {
  readonly isTensor = true;
  readonly shape: Shape;
  readonly dtype: DType;
  readonly storage: Storage;
  requiresGrad = false;
  /** Accumulated gradient (f32, same shape); created by backward() outside any scope. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it was recorded on the tape. */
  gradFn: GradNode | null = null;
  /** Optional name (parameters carry their HF/PEFT name). */
  name?: string;
  private disposedFlag = false;

  constructor(shape: Shape, dtype: DType, storage?: Storage, zero = false) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    const bytes = numelOf(shape) * DTYPE_BYTES[dtype];
    this.storage = storage ?? new Storage(bytes, zero);
    if (this.storage.bytes < bytes)
      throw new Error(`storage of ${this.storage.bytes} bytes is too small for ${formatShape(shape)} ${dtype}`);
    this.storage.retain();
    trackTensor(this);
  }

  static empty(shape: Shape, dtype: DType = 'f32'): Tensor {
    return new Tensor(shape, dtype);
  }

  static zeros(shape: Shape, dtype: DType = 'f32'): Tensor {
    return new Tensor(shape, dtype, undefined, true);
  }

  /** Copies `data` into a new tensor. Plain number arrays are converted to the dtype (f32 -> bf16/f16 rounds). */
  static from(data: ArrayLike<number>, shape: Shape, dtype: DType = 'f32'): Tensor {
    const n = numelOf(shape);
    if (data.length !== n)
      throw new Error(`Tensor.from: ${data.length} values do not fill shape ${formatShape(shape)} (${n} values)`);
    if (dtype === 'i32') {
      const t = new Tensor(shape, 'i32');
      native.write(t.handle, 0, data instanceof Int32Array ? data : Int32Array.from(data));
      return t;
    }
    if ((dtype === 'bf16' || dtype === 'f16') && data instanceof Uint16Array) {
      const t = new Tensor(shape, dtype);
      native.write(t.handle, 0, data);
      return t;
    }
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    const t = new Tensor(shape, 'f32');
    native.write(t.handle, 0, f32);
    if (dtype === 'f32') return t;
    const converted = t.to(dtype);
    t.dispose();
    return converted;
  }

  static scalar(value: number): Tensor {
    return Tensor.from([value], []);
  }

  get numel(): number {
    return numelOf(this.shape);
  }

  get ndim(): number {
    return this.shape.length;
  }

  get byteLength(): number {
    return this.numel * DTYPE_BYTES[this.dtype];
  }

  get disposed(): boolean {
    return this.disposedFlag;
  }

  /** The native handle kernels take. Throws on a disposed tensor. */
  get handle(): NativeStorage {
    if (this.disposedFlag)
      throw new Error(
        `use of a disposed tensor${this.name ? ` (${this.name})` : ''} of shape ${formatShape(this.shape)}`,
      );
    return this.storage.handle;
  }

  /** A copy converted to dtype (a new tensor even when the dtype is the same). Not recorded on the tape. */
  to(dtype: DType): Tensor {
    const out = new Tensor(this.shape, dtype);
    if (dtype === this.dtype) native.copy(this.handle, 0, out.handle, 0, this.byteLength);
    else native.convert(this.handle, DTYPE_CODE[this.dtype], out.handle, DTYPE_CODE[dtype], this.numel);
    return out;
  }

  /** The values as float32 (bf16/f16/i32 are converted). */
  toFloat32Array(): Float32Array {
    if (this.dtype === 'f32') {
      const out = new Float32Array(this.numel);
      native.read(this.handle, 0, out);
      return out;
    }
    const tmp = this.to('f32');
    const out = tmp.toFloat32Array();
    tmp.dispose();
    return out;
  }

  toInt32Array(): Int32Array {
    if (this.dtype !== 'i32') throw new Error(`toInt32Array on a ${this.dtype} tensor`);
    const out = new Int32Array(this.numel);
    native.read(this.handle, 0, out);
    return out;
  }

  /** The raw stored bits (Uint16Array for bf16/f16). */
  toTypedArray(): Float32Array | Int32Array | Uint16Array {
    if (this.dtype === 'f32') return this.toFloat32Array();
    if (this.dtype === 'i32') return this.toInt32Array();
    const out = new Uint16Array(this.numel);
    native.read(this.handle, 0, out);
    return out;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.numel !== 1) throw new Error(`item() on a tensor of shape ${formatShape(this.shape)}`);
    return this.dtype === 'i32' ? (this.toInt32Array()[0] as number) : (this.toFloat32Array()[0] as number);
  }

  /** A view with another shape over the same storage (one dimension may be -1). Recorded on the tape. */
  reshape(shape: Shape): Tensor {
    const resolved = resolveShape(shape, this.numel, this.shape);
    const view = new Tensor(resolved, this.dtype, this.storage);
    record(view, 'reshape', [this], (g) => [g.reshape(this.shape)]);
    return view;
  }

  /** A tensor over the same storage with no autograd history. */
  detach(): Tensor {
    return new Tensor(this.shape, this.dtype, this.storage);
  }

  /** Back-propagates from this tensor (a scalar unless `gradient` is given) into every leaf's `.grad`. */
  backward(gradient?: Tensor): void {
    runBackward(this, gradient);
  }

  /** Marks the tensor as a trainable leaf. */
  requiresGrad_(on = true): this {
    this.requiresGrad = on;
    return this;
  }

  /** Frees the native memory now (once the last view of the storage is disposed). Idempotent. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.gradFn = null;
    this.storage.release();
  }

  /**
   * Frees the values but keeps the tensor's place on the tape: for an activation that no backward reads (the input
   * of an op whose gradient does not depend on it), so a step does not hold it until its scope ends. Reading it
   * afterwards throws, as for a disposed tensor.
   */
  releaseValues(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.storage.release();
  }

  /** Shorthand for keep(this). */
  keep(): this {
    return keep(this);
  }

  toString(): string {
    return `Tensor(${formatShape(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

function resolveShape(shape: Shape, numel: number, from: Shape): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (free >= 0) {
    const rest = out.reduce((a, d, i) => (i === free ? a : a * d), 1);
    if (rest === 0 || numel % rest !== 0)
      throw new Error(`cannot reshape ${formatShape(from)} to ${formatShape(shape)}`);
    out[free] = numel / rest;
  }
  if (numelOf(out) !== numel)
    throw new Error(`cannot reshape ${formatShape(from)} (${numel} values) to ${formatShape(shape)}`);
  return out;
}
