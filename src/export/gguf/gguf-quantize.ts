/**
 * Tensor bytes in ggml's layouts. F32/F16/BF16 convert with the engine (round to nearest even, as numpy and torch
 * do). Q8_0 follows llama.cpp's reference quantize_row_q8_0_ref in float32 arithmetic: per block of 32 values,
 * d = max|x| / 127, id = d ? 1/d : 0, q = roundf(x * id) (ties away from zero), stored as the f16 of d then 32 int8.
 * quantizeQ8_0 is that arithmetic in TypeScript, kept as the tests' reference; files are written by the native port
 * (engine/quant/ggml-blocks.ts), which produces the same bytes, as it does for the 4–6-bit types.
 */

import { native } from '../../engine/native.js';
import { ggmlDequantize, ggmlQuantize } from '../../engine/quant/ggml-blocks.js';
import { Tensor } from '../../engine/tensor.js';
import type { GgmlType } from './gguf-format.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half bits of a float32 value, rounded to nearest even (overflow to inf, NaN kept a NaN). */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0] as number;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** C's roundf: halves away from zero. */
function roundf(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** Q8_0 blocks of `values` (a multiple of 32 long). */
export function quantizeQ8_0(values: Float32Array): Uint8Array {
  if (values.length % 32 !== 0) throw new Error(`Q8_0 needs a multiple of 32 values, got ${values.length}`);
  const blocks = values.length / 32;
  const out = new Uint8Array(blocks * 34);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[base + j] as number));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const at = b * 34;
    view.setUint16(at, f32ToF16Bits(d), true);
    for (let j = 0; j < 32; j++) view.setInt8(at + 2 + j, roundf(Math.fround((values[base + j] as number) * id)));
  }
  return out;
}

/** The bytes of float32 `values` (shape `shape`) as ggml type `type`. */
export function ggmlBytes(values: Float32Array, shape: readonly number[], type: GgmlType): Uint8Array {
  if (type !== 'F32' && type !== 'F16' && type !== 'BF16') return ggmlQuantize(values, type);
  if (type === 'F32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const t = Tensor.from(values, shape);
  try {
    const converted = t.to(type === 'F16' ? 'f16' : 'bf16');
    try {
      const out = new Uint8Array(values.length * 2);
      native.read(converted.handle, 0, out);
      return out;
    } finally {
      converted.dispose();
    }
  } finally {
    t.dispose();
  }
}

/** The float32 values that `n` elements of ggml type `type` in `bytes` hold (the inverse of ggmlBytes). */
export function ggmlValues(bytes: Uint8Array, type: GgmlType, n: number): Float32Array {
  if (type === 'F32') return new Float32Array(bytes.slice(0, n * 4).buffer);
  if (type !== 'F16' && type !== 'BF16') return ggmlDequantize(bytes, type, n);
  const t = Tensor.from(new Float32Array(n), [n], type === 'F16' ? 'f16' : 'bf16');
  try {
    native.write(t.handle, 0, bytes.subarray(0, n * 2));
    const f32 = t.to('f32');
    try {
      return f32.toFloat32Array();
    } finally {
      f32.dispose();
    }
  } finally {
    t.dispose();
  }
}
