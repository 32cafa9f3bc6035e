/**
 * The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length N, N bytes
 * of JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`, then the raw
 * little-endian tensor bytes, offsets relative to the end of the header.
 *
 * Reading is lazy: `SafetensorsFile.open` reads and validates the header only; `load(name)` preads one tensor's
 * bytes straight into native tensor memory. Writing lays the file out exactly as the reference Rust library does
 * (tensors sorted by dtype, largest first, then by name; `__metadata__` first; header padded with spaces to a
 * multiple of 8) and replaces the target atomically.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import type { DType } from '../engine/dtype.js';
import { native } from '../engine/native.js';
import { Storage } from '../engine/storage.js';
import { formatShape, numelOf, type Shape, Tensor } from '../engine/tensor.js';
import { withAtomicFile } from './atomic.js';
import { FormatError } from './errors.js';
import { narrowI64ToI32, preadStorage, pwriteStorage, widenI32ToI64, widenU8ToI32 } from './file-io.js';

/**
 * Every dtype the format defines, in the reference library's enum order (increasing alignment); the writer sorts
 * by this order, largest first, so every tensor's data starts aligned to its element size.
 */
export const SAFETENSORS_DTYPES = [
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'I64',
  'U64',
] as const;
export type SafetensorsDType = (typeof SAFETENSORS_DTYPES)[number];

const ELEMENT_BYTES: Record<SafetensorsDType, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** Stored dtypes lmforge can load, and the engine dtype each becomes by default. */
export const LOADABLE_DTYPES: Readonly<Partial<Record<SafetensorsDType, DType>>> = {
  F32: 'f32',
  BF16: 'bf16',
  F16: 'f16',
  I32: 'i32',
  I64: 'i32', // range-checked
  U8: 'i32',
  BOOL: 'i32',
};

const STORED_AS: Record<DType, SafetensorsDType> = { f32: 'F32', bf16: 'BF16', f16: 'F16', i32: 'I32' };

/** Headers above this size are refused, as the reference library does (a corrupt length would allocate gigabytes). */
export const MAX_HEADER_BYTES = 100_000_000;

export function isSafetensorsDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && (SAFETENSORS_DTYPES as readonly string[]).includes(s);
}

export function safetensorsDTypeOf(dtype: DType): SafetensorsDType {
  return STORED_AS[dtype];
}

export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: Shape;
  /** Byte range relative to the start of the data section. */
  readonly begin: number;
  readonly end: number;
}

export interface LoadOptions {
  /** Convert to this dtype after reading (bf16 -> f32 widens; f32 -> bf16 rounds to nearest even). */
  dtype?: DType;
}

/** An open safetensors file: header parsed and validated, tensors read on demand. Call close() when done. */
export class SafetensorsFile {
  /** Tensors in file order (by data offset). */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  private fdOrNull: number | null;

  private constructor(
    readonly path: string,
    fd: number,
    readonly metadata: Readonly<Record<string, string>> | null,
    tensors: Map<string, TensorInfo>,
    /** File offset of the first data byte: 8 + header length. */
    readonly dataStart: number,
  ) {
    this.fdOrNull = fd;
    this.tensors = tensors;
  }

  /** Opens `path` and validates its header against the file size; throws a FormatError naming what is wrong. */
  static open(path: string): SafetensorsFile {
    const fd = openSync(path, 'r');
    try {
      const { metadata, tensors, dataStart } = readHeader(path, fd);
      return new SafetensorsFile(path, fd, metadata, tensors, dataStart);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  get names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) {
      const some = this.names.slice(0, 5).join(', ');
      throw new FormatError(
        this.path,
        name,
        `no such tensor (the file has ${this.tensors.size}${this.tensors.size ? `, e.g. ${some}` : ''})`,
      );
    }
    return info;
  }

  /** Reads one tensor into a new native Tensor (created in the current scope). */
  load(name: string, options: LoadOptions = {}): Tensor {
    const info = this.info(name);
    const t = this.readStored(info);
    if (options.dtype === undefined || options.dtype === t.dtype) return t;
    const converted = t.to(options.dtype);
    t.dispose();
    return converted;
  }

  /** The tensor's stored bytes as they are (any dtype: packed 4-bit weights, int8, quantization state). */
  readBytes(name: string): Uint8Array {
    const info = this.info(name);
    const out = new Uint8Array(info.end - info.begin);
    const got = readExactly(this.fd, out, this.dataStart + info.begin);
    if (got !== out.length)
      throw new FormatError(this.path, name, `the file ends after ${got} of this tensor's ${out.length} bytes`);
    return out;
  }

  close(): void {
    if (this.fdOrNull === null) return;
    closeSync(this.fdOrNull);
    this.fdOrNull = null;
  }

  private get fd(): number {
    if (this.fdOrNull === null) throw new Error(`${this.path}: read from a closed SafetensorsFile`);
    return this.fdOrNull;
  }

  private readStored(info: TensorInfo): Tensor {
    const at = this.dataStart + info.begin;
    const bytes = info.end - info.begin;
    const n = numelOf(info.shape);
    const direct = LOADABLE_DTYPES[info.dtype];
    if (direct === undefined)
      throw new FormatError(
        this.path,
        info.name,
        `dtype ${info.dtype} is not supported by lmforge (loadable: ${Object.keys(LOADABLE_DTYPES).join(', ')})`,
      );
    const out = new Tensor(info.shape, direct);
    try {
      if (info.dtype === 'I64' || info.dtype === 'U8' || info.dtype === 'BOOL') {
        const raw = new Storage(bytes, false);
        raw.retain();
        try {
          preadStorage(this.fd, at, raw.handle, 0, bytes);
          if (info.dtype === 'I64') {
            const bad = narrowI64ToI32(raw.handle, out.handle, n);
            if (bad >= 0) {
              const v = new BigInt64Array(1);
              native.read(raw.handle, bad * 8, v);
              throw new FormatError(
                this.path,
                info.name,
                `I64 value ${v[0]} at flat index ${bad} does not fit in int32 (lmforge stores integers as i32)`,
              );
            }
          } else widenU8ToI32(raw.handle, out.handle, n);
        } finally {
          raw.release();
        }
      } else preadStorage(this.fd, at, out.handle, 0, bytes);
    } catch (e) {
      out.dispose();
      if (e instanceof FormatError) throw e;
      throw new FormatError(this.path, info.name, (e as Error).message);
    }
    return out;
  }
}

/** Opens a file, runs fn, and closes the file whatever happens. */
export function withSafetensors<T>(path: string, fn: (file: SafetensorsFile) => T): T {
  const file = SafetensorsFile.open(path);
  try {
    return fn(file);
  } finally {
    file.close();
  }
}

function readExactly(fd: number, buf: Uint8Array, position: number): number {
  let done = 0;
  while (done < buf.length) {
    const r = readSync(fd, buf, done, buf.length - done, position + done);
    if (r === 0) break;
    done += r;
  }
  return done;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function readHeader(path: string, fd: number) {
  const fileSize = fstatSync(fd).size;
  if (fileSize < 8)
    throw new FormatError(
      path,
      null,
      `not a safetensors file: ${fileSize} bytes, but the format starts with an 8-byte header length`,
    );
  const lenBytes = new Uint8Array(8);
  readExactly(fd, lenBytes, 0);
  const headerLen = Buffer.from(lenBytes).readBigUInt64LE(0);
  if (headerLen > BigInt(MAX_HEADER_BYTES))
    throw new FormatError(
      path,
      null,
      `header length ${headerLen} exceeds the format's limit of ${MAX_HEADER_BYTES} bytes: not a safetensors file, or corrupt`,
    );
  const n = Number(headerLen);
  if (8 + n > fileSize)
    throw new FormatError(
      path,
      null,
      `truncated: the header claims ${n} bytes but the file has only ${fileSize - 8} after the length`,
    );
  const headerBytes = new Uint8Array(n);
  readExactly(fd, headerBytes, 8);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new FormatError(path, null, 'header is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new FormatError(path, null, `header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(parsed)) throw new FormatError(path, null, 'header is not a JSON object');

  let metadata: Record<string, string> | null = null;
  const infos: TensorInfo[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      if (!isPlainObject(value) || !Object.values(value).every((v) => typeof v === 'string'))
        throw new FormatError(path, name, '__metadata__ must map strings to strings');
      metadata = value as Record<string, string>;
      continue;
    }
    infos.push(parseEntry(path, name, value));
  }

  // Data must tile [0, dataSize) exactly: no overlaps, no gaps (the reference library refuses both).
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: TensorInfo | null = null;
  for (const info of infos) {
    if (info.begin < cursor && previous)
      throw new FormatError(
        path,
        info.name,
        `data_offsets [${info.begin}, ${info.end}] overlap tensor "${previous.name}" [${previous.begin}, ${previous.end}]`,
      );
    if (info.begin > cursor)
      throw new FormatError(
        path,
        info.name,
        `data_offsets start at ${info.begin} but the previous tensor ends at ${cursor}: the data section has a gap`,
      );
    cursor = info.end;
    previous = info;
  }
  const dataStart = 8 + n;
  const available = fileSize - dataStart;
  if (cursor > available) {
    const first = infos.find((i) => i.end > available) as TensorInfo;
    throw new FormatError(
      path,
      first.name,
      `truncated: the tensor's data ends at byte ${first.end} of the data section, which has only ${available} bytes (header says ${cursor})`,
    );
  }
  if (cursor < available)
    throw new FormatError(
      path,
      null,
      `${available - cursor} unexpected bytes after the last tensor (the header accounts for ${cursor} data bytes)`,
    );
  const tensors = new Map<string, TensorInfo>();
  for (const info of infos) tensors.set(info.name, info);
  return { metadata, tensors, dataStart };
}

function parseEntry(path: string, name: string, value: unknown): TensorInfo {
  if (!isPlainObject(value)) throw new FormatError(path, name, 'header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = value;
  if (!isSafetensorsDType(dtype))
    throw new FormatError(
      path,
      name,
      `unknown dtype ${JSON.stringify(dtype)} (the format defines ${SAFETENSORS_DTYPES.join(', ')})`,
    );
  if (!Array.isArray(shape) || !shape.every(isIndex))
    throw new FormatError(path, name, `shape ${JSON.stringify(shape)} is not a list of integers >= 0`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex))
    throw new FormatError(path, name, `data_offsets ${JSON.stringify(offsets)} is not a pair of integers >= 0`);
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new FormatError(path, name, `data_offsets [${begin}, ${end}] end before they begin`);
  const expected = shape.reduce((a: number, d: number) => a * d, 1) * ELEMENT_BYTES[dtype];
  if (!Number.isSafeInteger(expected)) throw new FormatError(path, name, `shape ${formatShape(shape)} is too large`);
  if (end - begin !== expected)
    throw new FormatError(
      path,
      name,
      `data_offsets [${begin}, ${end}] span ${end - begin} bytes, but ${dtype} ${formatShape(shape)} needs ${expected}`,
    );
  return { name, dtype, shape: Object.freeze([...shape]), begin, end };
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

/**
 * Bytes to write as they are, for tensors the engine has no dtype for (a quantized weight's packed uint8 and int8
 * values, its quantization state).
 */
export interface RawTensor {
  readonly raw: true;
  readonly dtype: 'U8' | 'I8' | 'F32';
  readonly shape: Shape;
  readonly bytes: Uint8Array;
}

/** What the writer takes per name: a tensor, or raw bytes. */
export type WritableTensor = Tensor | RawTensor;

export function isRawTensor(t: WritableTensor): t is RawTensor {
  return (t as RawTensor).raw === true;
}

/** Tensors to write: a Map, a plain record, or [name, tensor] pairs. */
export type NamedTensors<T extends WritableTensor = Tensor> =
  | ReadonlyMap<string, T>
  | Readonly<Record<string, T>>
  | Iterable<[string, T]>;

export function namedTensorEntries<T extends WritableTensor>(tensors: NamedTensors<T>): [string, T][] {
  if (tensors instanceof Map) return [...tensors.entries()];
  if (Symbol.iterator in (tensors as object)) return [...(tensors as Iterable<[string, T]>)];
  return Object.entries(tensors as Record<string, T>);
}

export interface WriteOptions {
  /** Store floating tensors in this dtype (integer tensors keep theirs). Default: each tensor's own dtype. */
  dtype?: DType;
  /** Store i32 tensors as I64, as PyTorch stores token ids. Default false. */
  intAsI64?: boolean;
  /** `__metadata__`; default `{format: "pt"}` as transformers and PEFT write. `null` omits it. */
  metadata?: Record<string, string> | null;
  /** Called after each tensor's bytes are written (progress on long writes). */
  onTensor?: (name: string, bytes: number) => void;
}

interface PlannedTensor {
  name: string;
  tensor: WritableTensor;
  stored: SafetensorsDType;
  begin: number;
  end: number;
}

/** The header bytes (JSON padded with spaces to a multiple of 8) and data layout the writer will produce. */
export function planSafetensors(tensors: NamedTensors<WritableTensor>, options: WriteOptions = {}) {
  const entries = namedTensorEntries(tensors);
  const seen = new Set<string>();
  const planned: PlannedTensor[] = [];
  for (const [name, tensor] of entries) {
    if (name === '' || name === '__metadata__')
      throw new Error(`safetensors: tensor name ${JSON.stringify(name)} is reserved or empty`);
    if (seen.has(name)) throw new Error(`safetensors: tensor name "${name}" given twice`);
    seen.add(name);
    if (isRawTensor(tensor)) {
      if (tensor.bytes.length !== storedBytes(tensor.shape, tensor.dtype))
        throw new Error(
          `safetensors: "${name}" has ${tensor.bytes.length} bytes, ${tensor.dtype} ${formatShape(tensor.shape)} needs ${storedBytes(tensor.shape, tensor.dtype)}`,
        );
      planned.push({ name, tensor, stored: tensor.dtype, begin: 0, end: 0 });
      continue;
    }
    if (tensor.disposed) throw new Error(`safetensors: tensor "${name}" is disposed`);
    let stored: SafetensorsDType;
    if (tensor.dtype === 'i32') stored = options.intAsI64 ? 'I64' : 'I32';
    else stored = STORED_AS[options.dtype && options.dtype !== 'i32' ? options.dtype : tensor.dtype];
    planned.push({ name, tensor, stored, begin: 0, end: 0 });
  }
  const rank = (d: SafetensorsDType) => SAFETENSORS_DTYPES.indexOf(d);
  // Largest alignment first, then by name compared as UTF-8 bytes (Rust's String order).
  planned.sort((a, b) => rank(b.stored) - rank(a.stored) || Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  let offset = 0;
  for (const p of planned) {
    p.begin = offset;
    offset += storedBytes(p.tensor.shape, p.stored);
    p.end = offset;
  }
  const parts: string[] = [];
  const metadata = options.metadata === undefined ? { format: 'pt' } : options.metadata;
  if (metadata !== null) {
    const keys = Object.keys(metadata).sort();
    parts.push(`"__metadata__":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',')}}`);
  }
  for (const p of planned)
    parts.push(
      `${JSON.stringify(p.name)}:{"dtype":"${p.stored}","shape":[${p.tensor.shape.join(',')}],"data_offsets":[${p.begin},${p.end}]}`,
    );
  let header = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const pad = (8 - (header.length % 8)) % 8;
  if (pad) header = Buffer.concat([header, Buffer.alloc(pad, 0x20)]);
  return { header, tensors: planned, dataBytes: offset };
}

/** Writes a safetensors file atomically (temporary file, fsync, rename). Returns the file's size in bytes. */
export function writeSafetensors(
  path: string,
  tensors: NamedTensors<WritableTensor>,
  options: WriteOptions = {},
): number {
  const { header, tensors: planned, dataBytes } = planSafetensors(tensors, options);
  const dataStart = 8 + header.length;
  withAtomicFile(path, (fd) => {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeSync(fd, len, 0, 8, 0);
    let done = 0;
    while (done < header.length) done += writeSync(fd, header, done, header.length - done, 8 + done);
    for (const p of planned) {
      writeTensorData(fd, dataStart + p.begin, p);
      options.onTensor?.(p.name, p.end - p.begin);
    }
  });
  return dataStart + dataBytes;
}

function writeTensorData(fd: number, at: number, p: PlannedTensor): void {
  const bytes = p.end - p.begin;
  const t = p.tensor;
  if (isRawTensor(t)) {
    let done = 0;
    while (done < bytes) done += writeSync(fd, t.bytes, done, bytes - done, at + done);
    return;
  }
  if (p.stored === STORED_AS[t.dtype]) {
    pwriteStorage(fd, at, t.handle, 0, bytes);
    return;
  }
  if (p.stored === 'I64') {
    const wide = new Storage(bytes, false);
    wide.retain();
    try {
      widenI32ToI64(t.handle, wide.handle, t.numel);
      pwriteStorage(fd, at, wide.handle, 0, bytes);
    } finally {
      wide.release();
    }
    return;
  }
  // One converted tensor at a time: saving in bf16 never holds a second copy of the whole model.
  const converted = t.to(LOADABLE_DTYPES[p.stored] as DType);
  try {
    pwriteStorage(fd, at, converted.handle, 0, bytes);
  } finally {
    converted.dispose();
  }
}

/** Bytes one tensor takes when stored as `stored`. */
export function storedBytes(shape: Shape, stored: SafetensorsDType): number {
  return numelOf(shape) * ELEMENT_BYTES[stored];
}
