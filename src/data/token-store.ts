/**
 * The on-disk form of tokenized records: "LMFTOK1\n", a u32 (LE) header length, a JSON header padded to 4 bytes
 * ({ count, fields: [{ name, kind }], meta }), then per field: `ragged` = Int32 offsets [count + 1] + Int32 data,
 * `flag` = Int32 [count] of 0/1. Little-endian int32 throughout, so a file maps straight onto Int32Arrays.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import type { TokenizedRecord } from './processors/types.js';

const MAGIC = Buffer.from('LMFTOK1\n', 'latin1');

interface FieldSpec {
  name: string;
  kind: 'ragged' | 'flag';
}

interface Header {
  count: number;
  fields: FieldSpec[];
  meta: Record<string, unknown>;
}

export class TokenStoreError extends Error {
  override name = 'TokenStoreError';
  readonly userFacing = true;
}

type AnyRecord = Record<string, number[] | boolean | undefined>;

/** Serializes records (all with the same fields) and a JSON-able meta object. */
export function encodeRecords(records: readonly TokenizedRecord[], meta: Record<string, unknown> = {}): Uint8Array {
  const rows = records as unknown as readonly AnyRecord[];
  const first = rows[0] ?? {};
  const fields: FieldSpec[] = Object.keys(first)
    .filter((name) => first[name] !== undefined)
    .map((name) => ({ name, kind: typeof first[name] === 'boolean' ? 'flag' : 'ragged' }));
  const parts: Uint8Array[] = [];
  for (const field of fields) {
    if (field.kind === 'flag') {
      parts.push(new Uint8Array(Int32Array.from(rows, (r) => (r[field.name] ? 1 : 0)).buffer));
      continue;
    }
    const offsets = new Int32Array(rows.length + 1);
    let total = 0;
    rows.forEach((r, i) => {
      const value = r[field.name];
      if (!Array.isArray(value)) throw new TypeError(`record ${i} lacks the field ${field.name} that record 0 has`);
      total += value.length;
      offsets[i + 1] = total;
    });
    const data = new Int32Array(total);
    for (let i = 0; i < rows.length; i++) data.set(rows[i]![field.name] as number[], offsets[i]!);
    parts.push(new Uint8Array(offsets.buffer), new Uint8Array(data.buffer));
  }
  let json = Buffer.from(JSON.stringify({ count: rows.length, fields, meta } satisfies Header), 'utf8');
  const padded = Math.ceil(json.length / 4) * 4;
  json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  return Buffer.concat([MAGIC, length, json, ...parts]);
}

/** The inverse of encodeRecords. */
export function decodeRecords<R extends TokenizedRecord = TokenizedRecord>(
  bytes: Uint8Array,
  source = 'tokenized data',
): { records: R[]; meta: Record<string, unknown> } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 12 || !buf.subarray(0, 8).equals(MAGIC)) {
    throw new TokenStoreError(`${source} is not an lmforge tokenized file; delete it or set overwrite_cache`);
  }
  const headerLength = buf.readUInt32LE(8);
  const header = JSON.parse(buf.subarray(12, 12 + headerLength).toString('utf8')) as Header;
  // Copy onto an aligned buffer: Int32Array views need 4-byte alignment.
  const body = new Uint8Array(buf.length - 12 - headerLength);
  body.set(buf.subarray(12 + headerLength));
  const ints = new Int32Array(body.buffer, 0, body.length >> 2);
  const rows: AnyRecord[] = Array.from({ length: header.count }, () => ({}));
  let at = 0;
  for (const field of header.fields) {
    if (field.kind === 'flag') {
      for (let i = 0; i < header.count; i++) rows[i]![field.name] = ints[at + i] === 1;
      at += header.count;
      continue;
    }
    const offsets = ints.subarray(at, at + header.count + 1);
    at += header.count + 1;
    const total = header.count === 0 ? 0 : offsets[header.count]!;
    for (let i = 0; i < header.count; i++) {
      rows[i]![field.name] = Array.from(ints.subarray(at + offsets[i]!, at + offsets[i + 1]!));
    }
    at += total;
  }
  if (at !== ints.length)
    throw new TokenStoreError(`${source} is truncated or corrupt; delete it or set overwrite_cache`);
  return { records: rows as unknown as R[], meta: header.meta };
}

export function writeRecords(
  path: string,
  records: readonly TokenizedRecord[],
  meta: Record<string, unknown> = {},
): void {
  writeFileAtomic(path, encodeRecords(records, meta));
}

export function readRecords<R extends TokenizedRecord = TokenizedRecord>(
  path: string,
): { records: R[]; meta: Record<string, unknown> } {
  return decodeRecords<R>(readFileSync(path), path);
}
