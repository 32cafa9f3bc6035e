/**
 * The GGUF v3 container (llama.cpp's ggml/docs/gguf.md), little-endian: magic "GGUF", version 3, tensor count
 * (u64), metadata count (u64); each metadata entry is a key string (u64 length + UTF-8), a value type (u32) and the
 * value (arrays: element type u32, count u64, elements); then per tensor its name, dimension count (u32), dims
 * (u64 each, innermost first: the reverse of a PyTorch shape), ggml type (u32) and data offset (u64, relative to
 * the data section, a multiple of `general.alignment`, 32 by default). The data section starts at the first
 * aligned offset after the header.
 */
import { GGML_BLOCK_TYPES, type GgmlBlockType } from '../../engine/quant/ggml-blocks.js';

/** GGUF metadata value types. */
export const GGUF_VALUE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** ggml tensor types this writer produces, with their ids. */
export const GGML_TYPE = {
  F32: 0,
  F16: 1,
  BF16: 30,
  ...Object.fromEntries(Object.entries(GGML_BLOCK_TYPES).map(([name, f]) => [name, f.id])),
} as Record<'F32' | 'F16' | 'BF16' | GgmlBlockType, number>;
export type GgmlType = keyof typeof GGML_TYPE;

/** Elements per block and bytes per block of each type (the block types' layouts: native/src/kernels/ggml_blocks.cc). */
export const BLOCK: Record<GgmlType, { elements: number; bytes: number }> = {
  F32: { elements: 1, bytes: 4 },
  F16: { elements: 1, bytes: 2 },
  BF16: { elements: 1, bytes: 2 },
  ...GGML_BLOCK_TYPES,
};

export const GGUF_VERSION = 3;
export const DEFAULT_ALIGNMENT = 32;

/** llama_token_type values (tokenizer.ggml.token_type). */
export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** A metadata value with its GGUF type; arrays are homogeneous. */
export type GgufValue =
  | { type: 'u32' | 'i32' | 'f32' | 'u64'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; of: 'string'; value: readonly string[] }
  | { type: 'array'; of: 'i32' | 'f32'; value: ArrayLike<number> };

export interface GgufTensorInfo {
  name: string;
  /** PyTorch order (outermost first); written reversed. */
  shape: readonly number[];
  type: GgmlType;
}

export function tensorBytes(t: Pick<GgufTensorInfo, 'shape' | 'type'>): number {
  const n = t.shape.reduce((a, d) => a * d, 1);
  const b = BLOCK[t.type];
  if (n % b.elements !== 0) throw new Error(`${t.type} needs a multiple of ${b.elements} elements, got ${n}`);
  return (n / b.elements) * b.bytes;
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Growable little-endian byte buffer for the header. */
class ByteWriter {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v, this.length);
    this.length += 4;
  }
  u64(v: number): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.length);
    this.length += 8;
  }
  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.length);
    this.length += 4;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v;
  }
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.ensure(bytes.length);
    bytes.copy(this.buf, this.length);
    this.length += bytes.length;
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

const SCALAR_TYPE = { u32: GGUF_VALUE.UINT32, i32: GGUF_VALUE.INT32, f32: GGUF_VALUE.FLOAT32, u64: GGUF_VALUE.UINT64 };

function writeScalar(w: ByteWriter, type: 'u32' | 'i32' | 'f32' | 'u64', v: number): void {
  if (type === 'u32') w.u32(v);
  else if (type === 'i32') w.i32(v);
  else if (type === 'f32') w.f32(v);
  else w.u64(v);
}

function writeValue(w: ByteWriter, v: GgufValue): void {
  switch (v.type) {
    case 'bool':
      w.u32(GGUF_VALUE.BOOL);
      w.u8(v.value ? 1 : 0);
      return;
    case 'string':
      w.u32(GGUF_VALUE.STRING);
      w.string(v.value);
      return;
    case 'array':
      w.u32(GGUF_VALUE.ARRAY);
      if (v.of === 'string') {
        w.u32(GGUF_VALUE.STRING);
        w.u64(v.value.length);
        for (const s of v.value as readonly string[]) w.string(s);
      } else {
        w.u32(SCALAR_TYPE[v.of]);
        w.u64(v.value.length);
        for (let i = 0; i < v.value.length; i++) writeScalar(w, v.of, v.value[i] as number);
      }
      return;
    default:
      w.u32(SCALAR_TYPE[v.type]);
      writeScalar(w, v.type, v.value);
  }
}

export interface GgufLayout {
  /** Header bytes, zero-padded to the alignment: the data section starts right after. */
  header: Buffer;
  /** Offset of each tensor inside the data section. */
  offsets: number[];
  dataBytes: number;
}

/** Lays out header and data: metadata in the given order, tensors in the given order, each aligned. */
export function layoutGguf(
  metadata: ReadonlyArray<[string, GgufValue]>,
  tensors: readonly GgufTensorInfo[],
  alignment = DEFAULT_ALIGNMENT,
): GgufLayout {
  const w = new ByteWriter();
  w.u32(0x46554747); // "GGUF" read as a little-endian u32
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(metadata.length);
  const seen = new Set<string>();
  for (const [key, value] of metadata) {
    if (seen.has(key)) throw new Error(`GGUF metadata key ${key} given twice`);
    seen.add(key);
    w.string(key);
    writeValue(w, value);
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    offsets.push(offset);
    w.string(t.name);
    w.u32(t.shape.length);
    for (let i = t.shape.length - 1; i >= 0; i--) w.u64(t.shape[i] as number);
    w.u32(GGML_TYPE[t.type]);
    w.u64(offset);
    offset = alignUp(offset + tensorBytes(t), alignment);
  }
  const raw = w.bytes();
  const header = Buffer.alloc(alignUp(raw.length, alignment));
  raw.copy(header);
  return { header, offsets, dataBytes: offset };
}
