/**
 * Reading a GGUF v2/v3 file (llama.cpp's ggml/docs/gguf.md): the metadata, the tensor infos and each tensor's
 * values decoded to float32. Tensor data is read one tensor at a time from the file, so a model is never held twice.
 * Types read: F32, F16, BF16 and the block types Q4_0, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K (layouts:
 * native/src/kernels/ggml_blocks.cc).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { native, Tensor } from '../engine/index.js';
import { GGML_BLOCK_TYPES, type GgmlBlockType, ggmlDequantize } from '../engine/quant/ggml-blocks.js';
import { FormatError } from './errors.js';

export interface GgufTensorEntry {
  name: string;
  /** PyTorch order (outermost first): the file's dims reversed. */
  shape: number[];
  /** ggml_type id. */
  type: number;
  /** Absolute byte offset of the data in the file. */
  offset: number;
}

export type GgufMetadataValue = string | number | boolean | bigint | GgufMetadataValue[];

const PLAIN_TYPES: Record<number, { name: 'F32' | 'F16' | 'BF16'; bytes: number }> = {
  0: { name: 'F32', bytes: 4 },
  1: { name: 'F16', bytes: 2 },
  30: { name: 'BF16', bytes: 2 },
};
const BLOCK_BY_ID = new Map(
  Object.entries(GGML_BLOCK_TYPES).map(([name, f]) => [f.id as number, name as GgmlBlockType]),
);

/** The name of a ggml type id, or null when this reader does not decode it. */
export function ggmlTypeName(id: number): string | null {
  return PLAIN_TYPES[id]?.name ?? BLOCK_BY_ID.get(id) ?? null;
}

function tensorByteLength(t: GgufTensorEntry): number {
  const n = t.shape.reduce((a, d) => a * d, 1);
  const plain = PLAIN_TYPES[t.type];
  if (plain) return n * plain.bytes;
  const block = BLOCK_BY_ID.get(t.type);
  if (!block) return 0;
  const f = GGML_BLOCK_TYPES[block];
  return (n / f.elements) * f.bytes;
}

/** A cursor over the header bytes, growing its window from the file as it reads. */
class HeaderReader {
  private buf = Buffer.alloc(0);
  private start = 0;
  pos = 0;
  constructor(
    private readonly fd: number,
    private readonly path: string,
  ) {}

  private need(n: number): void {
    if (this.pos + n <= this.start + this.buf.length) return;
    const size = Math.max(1 << 20, n + 4096);
    const next = Buffer.alloc(size);
    const got = readSync(this.fd, next, 0, size, this.pos);
    if (got < n) throw new FormatError(this.path, null, 'the GGUF header ends early: the file is truncated');
    this.buf = next.subarray(0, got);
    this.start = this.pos;
  }
  /** Reads n bytes at the cursor with `fn` (after the window has moved, so `fn` sees the current buffer). */
  private read<T>(n: number, fn: (b: Buffer, o: number) => T): T {
    const o = this.at(n);
    return fn(this.buf, o);
  }
  private at(n: number): number {
    this.need(n);
    const o = this.pos - this.start;
    this.pos += n;
    return o;
  }
  u8(): number {
    return this.read(1, (b, o) => b.readUInt8(o));
  }
  u32(): number {
    return this.read(4, (b, o) => b.readUInt32LE(o));
  }
  u64(): number {
    const v = this.read(8, (b, o) => b.readBigUInt64LE(o));
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(this.path, null, `a GGUF count ${v} is too large`);
    return Number(v);
  }
  string(): string {
    const n = this.u64();
    return this.read(n, (b, o) => b.toString('utf8', o, o + n));
  }
  value(type: number): GgufMetadataValue {
    switch (type) {
      case 0:
        return this.u8();
      case 1:
        return this.read(1, (b, o) => b.readInt8(o));
      case 2:
        return this.read(2, (b, o) => b.readUInt16LE(o));
      case 3:
        return this.read(2, (b, o) => b.readInt16LE(o));
      case 4:
        return this.u32();
      case 5:
        return this.read(4, (b, o) => b.readInt32LE(o));
      case 6:
        return this.read(4, (b, o) => b.readFloatLE(o));
      case 7:
        return this.u8() !== 0;
      case 8:
        return this.string();
      case 9: {
        const of = this.u32();
        const n = this.u64();
        const out: GgufMetadataValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.value(of);
        return out;
      }
      case 10:
        return this.read(8, (b, o) => b.readBigUInt64LE(o));
      case 11:
        return this.read(8, (b, o) => b.readBigInt64LE(o));
      case 12:
        return this.read(8, (b, o) => b.readDoubleLE(o));
      default:
        throw new FormatError(this.path, null, `unknown GGUF metadata value type ${type}`);
    }
  }
}

export class GgufFile {
  private constructor(
    readonly path: string,
    readonly version: number,
    readonly metadata: Map<string, GgufMetadataValue>,
    readonly tensors: GgufTensorEntry[],
  ) {}

  static open(path: string): GgufFile {
    const fd = openSync(path, 'r');
    try {
      const r = new HeaderReader(fd, path);
      if (r.u32() !== 0x46554747)
        throw new FormatError(path, null, 'not a GGUF file (no "GGUF" magic): give a .gguf from llama.cpp or lmforge');
      const version = r.u32();
      if (version !== 2 && version !== 3)
        throw new FormatError(path, null, `GGUF version ${version} is not read (2 and 3 are): convert it again`);
      const tensorCount = r.u64();
      const metadataCount = r.u64();
      const metadata = new Map<string, GgufMetadataValue>();
      for (let i = 0; i < metadataCount; i++) {
        const key = r.string();
        metadata.set(key, r.value(r.u32()));
      }
      const infos: Omit<GgufTensorEntry, 'offset'>[] = [];
      const relative: number[] = [];
      for (let i = 0; i < tensorCount; i++) {
        const name = r.string();
        const dims = r.u32();
        const shape: number[] = [];
        for (let d = 0; d < dims; d++) shape.unshift(r.u64());
        const type = r.u32();
        relative.push(r.u64());
        infos.push({ name, shape, type });
      }
      const alignment = Number(metadata.get('general.alignment') ?? 32);
      const dataStart = Math.ceil(r.pos / alignment) * alignment;
      const tensors = infos.map((t, i) => ({ ...t, offset: dataStart + (relative[i] as number) }));
      return new GgufFile(path, version, metadata, tensors);
    } finally {
      closeSync(fd);
    }
  }

  get(key: string): GgufMetadataValue | undefined {
    return this.metadata.get(key);
  }

  tensor(name: string): GgufTensorEntry | undefined {
    return this.tensors.find((t) => t.name === name);
  }

  /** The tensor's stored bytes (its ggml blocks, as the file holds them). */
  readBytes(entry: GgufTensorEntry): Uint8Array {
    const bytes = new Uint8Array(tensorByteLength(entry));
    const fd = openSync(this.path, 'r');
    try {
      let done = 0;
      while (done < bytes.length) {
        const got = readSync(fd, bytes, done, bytes.length - done, entry.offset + done);
        if (got === 0)
          throw new FormatError(this.path, entry.name, 'the tensor data ends early: the file is truncated');
        done += got;
      }
    } finally {
      closeSync(fd);
    }
    return bytes;
  }

  /** The tensor's values as float32, decoded from its ggml type. */
  readFloat32(entry: GgufTensorEntry): Float32Array {
    const typeName = ggmlTypeName(entry.type);
    if (typeName === null)
      throw new FormatError(
        this.path,
        entry.name,
        `ggml type ${entry.type} is not read (F32, F16, BF16, Q4_0, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K are): ` +
          'requantize the file with llama-quantize to one of those',
      );
    const n = entry.shape.reduce((a, d) => a * d, 1);
    const bytes = this.readBytes(entry);
    if (typeName === 'F32') return new Float32Array(bytes.buffer);
    if (typeName === 'F16' || typeName === 'BF16') {
      const t = Tensor.from(new Float32Array(n), [n], typeName === 'F16' ? 'f16' : 'bf16');
      try {
        native.write(t.handle, 0, bytes);
        const f = t.to('f32');
        try {
          return f.toFloat32Array();
        } finally {
          f.dispose();
        }
      } finally {
        t.dispose();
      }
    }
    return ggmlDequantize(bytes, typeName as GgmlBlockType, n);
  }
}
