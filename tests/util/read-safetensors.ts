/**
 * A minimal safetensors reader for tests (the library's reader lives in src/io/): 8-byte little-endian header
 * length, JSON header of { name: { dtype, shape, data_offsets } }, then raw little-endian data. F32 and I64 only.
 */
import { readFileSync } from 'node:fs';

export interface TestTensor {
  dtype: 'F32' | 'I64';
  shape: number[];
  /** F32 values, or I64 values converted to numbers (they must be safe integers). */
  data: Float32Array | Float64Array;
}

export function readSafetensors(path: string): Map<string, TestTensor> {
  const buf = readFileSync(path);
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + headerLen;
  const out = new Map<string, TestTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [start, end] = info.data_offsets;
    const bytes = buf.subarray(base + start, base + end);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (info.dtype === 'F32') {
      const data = new Float32Array(bytes.byteLength / 4);
      for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(4 * i, true);
      out.set(name, { dtype: 'F32', shape: info.shape, data });
    } else if (info.dtype === 'I64') {
      const data = new Float64Array(bytes.byteLength / 8);
      for (let i = 0; i < data.length; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
          throw new Error(`${path}: ${name}[${i}] = ${v} is not a safe integer`);
        data[i] = Number(v);
      }
      out.set(name, { dtype: 'I64', shape: info.shape, data });
    } else {
      throw new Error(`${path}: ${name} has dtype ${info.dtype}; this test reader handles F32 and I64 only`);
    }
  }
  return out;
}
