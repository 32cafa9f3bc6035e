/**
 * ggml's block-quantized formats (native/src/kernels/ggml_blocks.cc holds the layouts): quantize float32 values the
 * way llama.cpp's reference quantizer does, and decode blocks back to float32. Used by GGUF export and import.
 */
import { native } from '../native.js';
import { Storage } from '../storage.js';

/** The block types with their ggml_type ids, values per block and bytes per block. */
export const GGML_BLOCK_TYPES = {
  Q4_0: { id: 2, elements: 32, bytes: 18 },
  Q5_0: { id: 6, elements: 32, bytes: 22 },
  Q5_1: { id: 7, elements: 32, bytes: 24 },
  Q8_0: { id: 8, elements: 32, bytes: 34 },
  Q4_K: { id: 12, elements: 256, bytes: 144 },
  Q5_K: { id: 13, elements: 256, bytes: 176 },
  Q6_K: { id: 14, elements: 256, bytes: 210 },
} as const;
export type GgmlBlockType = keyof typeof GGML_BLOCK_TYPES;

function withStorages<T>(inBytes: number, outBytes: number, fn: (src: Storage, dst: Storage) => T): T {
  const src = new Storage(Math.max(inBytes, 1), false);
  src.retain();
  try {
    const dst = new Storage(Math.max(outBytes, 1), false);
    dst.retain();
    try {
      return fn(src, dst);
    } finally {
      dst.release();
    }
  } finally {
    src.release();
  }
}

/** Blocks of `values` (a whole number of blocks long) in `type`. */
export function ggmlQuantize(values: Float32Array, type: GgmlBlockType): Uint8Array {
  const f = GGML_BLOCK_TYPES[type];
  if (values.length % f.elements !== 0)
    throw new Error(`${type} needs a multiple of ${f.elements} values, got ${values.length}`);
  const out = new Uint8Array((values.length / f.elements) * f.bytes);
  withStorages(values.byteLength, out.length, (src, dst) => {
    native.write(src.handle, 0, values);
    native.ggmlQuantize(src.handle, dst.handle, f.id, values.length);
    native.read(dst.handle, 0, out);
  });
  return out;
}

/** The `n` float32 values that `bytes` (blocks of `type`) hold. */
export function ggmlDequantize(bytes: Uint8Array, type: GgmlBlockType, n: number): Float32Array {
  const f = GGML_BLOCK_TYPES[type];
  if (n % f.elements !== 0 || bytes.length < (n / f.elements) * f.bytes)
    throw new Error(`${type}: ${bytes.length} bytes do not hold ${n} values`);
  const out = new Float32Array(n);
  withStorages(bytes.length, out.byteLength, (src, dst) => {
    native.write(src.handle, 0, bytes.subarray(0, (n / f.elements) * f.bytes));
    native.ggmlDequantize(src.handle, dst.handle, f.id, n);
    native.read(dst.handle, 0, out);
  });
  return out;
}
