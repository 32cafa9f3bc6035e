/**
 * A minimal Parquet writer for tests (the project reads parquet with hyparquet but has no writer): one row group,
 * required columns, PLAIN encoding, uncompressed. Column types: string (BYTE_ARRAY/UTF8), integer (INT64),
 * boolean. Metadata is Thrift compact protocol, as the Parquet format specifies.
 */
type Column =
  | { name: string; values: string[] }
  | { name: string; values: number[] }
  | { name: string; values: boolean[] };

class CompactWriter {
  bytes: number[] = [];
  private lastField: number[] = [0];

  byte(b: number): void {
    this.bytes.push(b & 0xff);
  }
  varint(n: bigint): void {
    let v = n;
    while (v >= 0x80n) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }
  zigzag(n: number | bigint): void {
    const v = BigInt(n);
    this.varint(v >= 0n ? v << 1n : (-v << 1n) - 1n);
  }
  field(id: number, type: number): void {
    const last = this.lastField[this.lastField.length - 1] as number;
    const delta = id - last;
    if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
    else {
      this.byte(type);
      this.zigzag(id);
    }
    this.lastField[this.lastField.length - 1] = id;
  }
  i32(id: number, v: number): void {
    this.field(id, 5);
    this.zigzag(v);
  }
  i64(id: number, v: number): void {
    this.field(id, 6);
    this.zigzag(v);
  }
  binary(id: number, s: string): void {
    this.field(id, 8);
    this.rawBinary(s);
  }
  rawBinary(s: string): void {
    const b = new TextEncoder().encode(s);
    this.varint(BigInt(b.length));
    for (const x of b) this.byte(x);
  }
  listHeader(id: number, elemType: number, size: number): void {
    this.field(id, 9);
    if (size < 15) this.byte((size << 4) | elemType);
    else {
      this.byte(0xf0 | elemType);
      this.varint(BigInt(size));
    }
  }
  beginStruct(id: number | null): void {
    if (id !== null) this.field(id, 12);
    this.lastField.push(0);
  }
  endStruct(): void {
    this.byte(0);
    this.lastField.pop();
  }
}

function plainValues(col: Column): number[] {
  const out: number[] = [];
  const v = col.values;
  if (typeof v[0] === 'string') {
    for (const s of v as string[]) {
      const b = new TextEncoder().encode(s);
      out.push(b.length & 0xff, (b.length >> 8) & 0xff, (b.length >> 16) & 0xff, (b.length >>> 24) & 0xff, ...b);
    }
  } else if (typeof v[0] === 'number') {
    for (const n of v as number[]) {
      let x = BigInt.asUintN(64, BigInt(n));
      for (let i = 0; i < 8; i++) {
        out.push(Number(x & 0xffn));
        x >>= 8n;
      }
    }
  } else {
    const bits = v as boolean[];
    for (let i = 0; i < bits.length; i += 8) {
      let byte = 0;
      for (let j = 0; j < 8 && i + j < bits.length; j++) if (bits[i + j]) byte |= 1 << j;
      out.push(byte);
    }
  }
  return out;
}

function physicalType(col: Column): number {
  const x = col.values[0];
  return typeof x === 'string' ? 6 : typeof x === 'number' ? 2 : 0;
}

export function writeParquet(columns: Column[]): Uint8Array {
  const numRows = columns[0]?.values.length ?? 0;
  const file: number[] = [...new TextEncoder().encode('PAR1')];
  const chunks: { offset: number; size: number }[] = [];
  for (const col of columns) {
    const data = plainValues(col);
    const h = new CompactWriter();
    h.beginStruct(null);
    h.i32(1, 0); // DATA_PAGE
    h.i32(2, data.length);
    h.i32(3, data.length);
    h.beginStruct(5);
    h.i32(1, numRows);
    h.i32(2, 0); // PLAIN
    h.i32(3, 3); // RLE
    h.i32(4, 3);
    h.endStruct();
    h.endStruct();
    chunks.push({ offset: file.length, size: h.bytes.length + data.length });
    file.push(...h.bytes, ...data);
  }
  const m = new CompactWriter();
  m.beginStruct(null);
  m.i32(1, 1);
  m.listHeader(2, 12, columns.length + 1);
  m.beginStruct(null);
  m.binary(4, 'schema');
  m.i32(5, columns.length);
  m.endStruct();
  for (const col of columns) {
    m.beginStruct(null);
    m.i32(1, physicalType(col));
    m.i32(3, 0); // REQUIRED
    m.binary(4, col.name);
    if (physicalType(col) === 6) m.i32(6, 0); // UTF8
    m.endStruct();
  }
  m.i64(3, numRows);
  m.listHeader(4, 12, 1);
  m.beginStruct(null);
  m.listHeader(1, 12, columns.length);
  columns.forEach((col, i) => {
    const c = chunks[i] as { offset: number; size: number };
    m.beginStruct(null);
    m.i64(2, c.offset);
    m.beginStruct(3);
    m.i32(1, physicalType(col));
    m.listHeader(2, 5, 1);
    m.zigzag(0);
    m.listHeader(3, 8, 1);
    m.rawBinary(col.name);
    m.i32(4, 0);
    m.i64(5, numRows);
    m.i64(6, c.size);
    m.i64(7, c.size);
    m.i64(9, c.offset);
    m.endStruct();
    m.endStruct();
  });
  m.i64(
    2,
    chunks.reduce((a, c) => a + c.size, 0),
  );
  m.i64(3, numRows);
  m.endStruct();
  m.endStruct();
  const len = m.bytes.length;
  file.push(...m.bytes, len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, (len >>> 24) & 0xff);
  file.push(...new TextEncoder().encode('PAR1'));
  return Uint8Array.from(file);
}
