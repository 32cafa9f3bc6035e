import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { liveBytes, Tensor } from '../../src/engine/index.js';
import {
  FormatError,
  planSafetensors,
  SafetensorsFile,
  withAtomicFile,
  withSafetensors,
  writeSafetensors,
} from '../../src/io/index.js';
import { Rng } from '../util/random.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'parity', 'llama-tiny');
const tmp = mkdtempSync(join(tmpdir(), 'lmforge-safetensors-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Independent raw-byte reader: header JSON and the data section, parsed with plain Buffer calls. */
function rawHeader(path: string) {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  return { buf, n, header, data: buf.subarray(8 + n) };
}

test('reads the parity fixture: names, shapes, dtypes, metadata', () => {
  withSafetensors(join(FIXTURE, 'model.safetensors'), (f) => {
    assert.equal(f.tensors.size, 21);
    assert.deepEqual(f.metadata, { format: 'pt' });
    assert.deepEqual(f.info('model.embed_tokens.weight').shape, [256, 64]);
    assert.deepEqual(f.info('model.layers.1.mlp.down_proj.weight').shape, [64, 176]);
    assert.deepEqual(f.info('model.layers.0.self_attn.k_proj.weight').shape, [32, 64]);
    assert.equal(f.info('lm_head.weight').dtype, 'F32');
  });
  withSafetensors(join(FIXTURE, 'reference.safetensors'), (f) => {
    assert.equal(f.tensors.size, 132);
    assert.equal(f.info('input_ids').dtype, 'I64');
    assert.deepEqual(f.info('gen.output_ids').shape, [1, 19]);
  });
});

test('fixture values match the raw little-endian bytes exactly (f32 and I64 -> i32)', () => {
  const path = join(FIXTURE, 'model.safetensors');
  const { header, data } = rawHeader(path);
  withSafetensors(path, (f) => {
    for (const name of ['model.layers.0.self_attn.q_proj.weight', 'model.norm.weight', 'lm_head.weight']) {
      const [begin, end] = (header[name] as { data_offsets: [number, number] }).data_offsets;
      const t = f.load(name);
      const got = t.toFloat32Array();
      t.dispose();
      assert.equal(got.length, (end - begin) / 4);
      for (const i of [0, 1, 7, got.length - 1]) assert.equal(got[i], data.readFloatLE(begin + 4 * i), `${name}[${i}]`);
    }
  });
  const ref = join(FIXTURE, 'reference.safetensors');
  const r = rawHeader(ref);
  withSafetensors(ref, (f) => {
    const t = f.load('gen.output_ids');
    assert.equal(t.dtype, 'i32');
    const ids = [...t.toInt32Array()];
    t.dispose();
    const [begin] = (r.header['gen.output_ids'] as { data_offsets: [number, number] }).data_offsets;
    const expected = ids.map((_, i) => Number(r.data.readBigInt64LE(begin + 8 * i)));
    assert.deepEqual(ids, expected);
    // The README lists the 12 generated tokens after the 7-token prompt.
    assert.deepEqual(ids.slice(7), [227, 166, 84, 139, 158, 103, 192, 53, 246, 230, 176, 154]);
    const loss = f.load('full.loss');
    assert.equal(loss.item(), Math.fround(5.560037612915039));
    loss.dispose();
  });
});

test('round-trips every dtype, and converts on load', () => {
  const rng = new Rng(7);
  const before = liveBytes();
  const vals = rng.floats(3 * 5).f32;
  const f32 = Tensor.from(vals, [3, 5]);
  const bf16 = f32.to('bf16');
  const f16 = f32.to('f16');
  const i32 = Tensor.from([0, -1, 2147483647, -2147483648, 42, 7], [2, 3], 'i32');
  const scalar = Tensor.from([3.5], []);
  const empty = Tensor.zeros([0, 4]);
  const path = join(tmp, 'all.safetensors');
  writeSafetensors(path, { f32, bf16, f16, i32, scalar, empty });
  withSafetensors(path, (f) => {
    assert.deepEqual(
      f.names.map((n) => [n, f.info(n).dtype]),
      [
        ['empty', 'F32'],
        ['f32', 'F32'],
        ['scalar', 'F32'],
        ['i32', 'I32'],
        ['bf16', 'BF16'],
        ['f16', 'F16'],
      ],
    );
    for (const [name, src] of [
      ['f32', f32],
      ['bf16', bf16],
      ['f16', f16],
      ['i32', i32],
      ['scalar', scalar],
      ['empty', empty],
    ] as const) {
      const t = f.load(name);
      assert.equal(t.dtype, src.dtype, name);
      assert.deepEqual(t.shape, src.shape, name);
      assert.deepEqual([...t.toTypedArray()], [...src.toTypedArray()], name);
      t.dispose();
    }
    const widened = f.load('bf16', { dtype: 'f32' });
    assert.equal(widened.dtype, 'f32');
    assert.deepEqual([...widened.toFloat32Array()], [...bf16.toFloat32Array()]);
    widened.dispose();
  });
  // Saving in bf16 rounds floats (and leaves integers alone); I64 storage widens i32 and narrows back.
  const path2 = join(tmp, 'bf16.safetensors');
  writeSafetensors(path2, { f32, i32 }, { dtype: 'bf16', intAsI64: true });
  withSafetensors(path2, (f) => {
    assert.equal(f.info('f32').dtype, 'BF16');
    assert.equal(f.info('i32').dtype, 'I64');
    const b = f.load('f32');
    assert.deepEqual([...b.toTypedArray()], [...bf16.toTypedArray()]);
    const i = f.load('i32');
    assert.deepEqual([...i.toInt32Array()], [...i32.toInt32Array()]);
    b.dispose();
    i.dispose();
  });
  for (const t of [f32, bf16, f16, i32, scalar, empty]) t.dispose();
  assert.equal(liveBytes(), before, 'reading and writing leave no native memory behind');
});

test('I64 values outside int32 and U8/BOOL are handled', () => {
  const path = join(tmp, 'ints.safetensors');
  const header = JSON.stringify({
    big: { dtype: 'I64', shape: [2], data_offsets: [0, 16] },
    flags: { dtype: 'BOOL', shape: [3], data_offsets: [16, 19] },
    bytes: { dtype: 'U8', shape: [2], data_offsets: [19, 21] },
    wide: { dtype: 'F64', shape: [1], data_offsets: [21, 29] },
  });
  const h = Buffer.from(header);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  const data = Buffer.alloc(29);
  data.writeBigInt64LE(5n, 0);
  data.writeBigInt64LE(1n << 40n, 8);
  data.set([1, 0, 1, 255, 3], 16);
  writeFileSync(path, Buffer.concat([len, h, data]));
  withSafetensors(path, (f) => {
    assert.throws(() => f.load('big'), /"big".*1099511627776 at flat index 1 does not fit in int32/);
    const flags = f.load('flags');
    assert.deepEqual([...flags.toInt32Array()], [1, 0, 1]);
    const bytes = f.load('bytes');
    assert.deepEqual([...bytes.toInt32Array()], [255, 3]);
    flags.dispose();
    bytes.dispose();
    assert.throws(() => f.load('wide'), /"wide": dtype F64 is not supported/);
    assert.throws(
      () => f.load('nope'),
      (e: unknown) => e instanceof FormatError && e.key === 'nope',
    );
  });
});

test('header layout is byte-identical to the reference writer: sorted, __metadata__ first, space padding', () => {
  // The safetensors crate's own test vector: {"attn.0": F32 [1,2,3]} without metadata is a 64-byte header
  // (already aligned, no padding); "attn0" [1,1,2,3] needs 7 spaces to reach 72.
  const t = Tensor.from([0, 1, 2, 3, 4, 5], [1, 2, 3]);
  const a = planSafetensors({ 'attn.0': t }, { metadata: null });
  assert.equal(a.header.toString(), '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}');
  assert.equal(a.header.length, 64);
  const v = t.reshape([1, 1, 2, 3]);
  const b = planSafetensors({ attn0: v }, { metadata: null });
  assert.equal(
    b.header.toString(),
    `{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}${' '.repeat(7)}`,
  );
  // Empty with metadata {framework: pt}: 40 bytes incl. 5 spaces.
  const c = planSafetensors({}, { metadata: { framework: 'pt' } });
  assert.equal(c.header.toString(), `{"__metadata__":{"framework":"pt"}}${' '.repeat(5)}`);
  // Sort: larger dtypes first, then names as bytes; data offsets follow that order.
  const h = Tensor.from([1, 2], [2], 'f16');
  const i = Tensor.from([1], [1], 'i32');
  const path = join(tmp, 'layout.safetensors');
  writeSafetensors(path, { z: t, b: h, a: h, y: i }, { intAsI64: true });
  const raw = rawHeader(path);
  assert.equal(raw.n % 8, 0);
  const text = raw.buf.subarray(8, 8 + raw.n).toString();
  assert.equal(
    text.trimEnd(),
    '{"__metadata__":{"format":"pt"},"y":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
      '"z":{"dtype":"F32","shape":[1,2,3],"data_offsets":[8,32]},"a":{"dtype":"F16","shape":[2],"data_offsets":[32,36]},' +
      '"b":{"dtype":"F16","shape":[2],"data_offsets":[36,40]}}',
  );
  assert.equal(raw.buf.length, 8 + raw.n + 40);
  assert.equal(readdirSync(tmp).filter((n) => n.includes('.tmp-')).length, 0, 'no temporary file is left');
  for (const x of [t, v, h, i]) x.dispose();
});

test('our writer reproduces the fixture tensors and data bytes', () => {
  // The fixture's writer put __metadata__ last; everything else (order, offsets, data) must match byte for byte.
  const src = join(FIXTURE, 'lora-adapter', 'adapter_model.safetensors');
  const out = join(tmp, 'copy.safetensors');
  withSafetensors(src, (f) => {
    const tensors = f.names.map((n): [string, Tensor] => [n, f.load(n)]);
    writeSafetensors(out, tensors);
    for (const [, t] of tensors) t.dispose();
  });
  const a = rawHeader(src);
  const b = rawHeader(out);
  const tensorsOnly = Object.entries(a.header).filter(([k]) => k !== '__metadata__');
  assert.deepEqual(Object.entries(b.header), [['__metadata__', { format: 'pt' }], ...tensorsOnly]);
  assert.equal(b.n, a.n);
  assert.ok(b.data.equals(a.data));
});

test('malformed files give errors naming the file and tensor', () => {
  const good = readFileSync(join(FIXTURE, 'lora-adapter', 'adapter_model.safetensors'));
  const write = (name: string, bytes: Uint8Array) => {
    const p = join(tmp, name);
    writeFileSync(p, bytes);
    return p;
  };
  const withHeader = (name: string, header: unknown, dataBytes: number) => {
    const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    return write(name, Buffer.concat([len, h, Buffer.alloc(dataBytes)]));
  };
  const tiny = write('tiny.safetensors', Buffer.from([1, 2, 3]));
  assert.throws(() => SafetensorsFile.open(tiny), /tiny\.safetensors: not a safetensors file: 3 bytes/);
  const truncated = write('truncated.safetensors', good.subarray(0, good.length - 100));
  assert.throws(
    () => SafetensorsFile.open(truncated),
    (e: unknown) =>
      e instanceof FormatError &&
      e.file === truncated &&
      /layers\.1\.self_attn\.v_proj\.lora_B/.test(e.key ?? '') &&
      /truncated/.test(e.message),
  );
  const cutHeader = write('cut-header.safetensors', good.subarray(0, 100));
  assert.throws(() => SafetensorsFile.open(cutHeader), /truncated: the header claims 3480 bytes/);
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(1n << 40n);
  assert.throws(() => SafetensorsFile.open(write('huge.safetensors', huge)), /exceeds the format's limit/);
  assert.throws(
    () => SafetensorsFile.open(withHeader('badjson.safetensors', '{"a": ', 0)),
    /badjson\.safetensors: header is not valid JSON/,
  );
  assert.throws(
    () =>
      SafetensorsFile.open(
        withHeader(
          'overlap.safetensors',
          {
            a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
            b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
          },
          24,
        ),
      ),
    /overlap\.safetensors: "b": data_offsets \[8, 24\] overlap tensor "a" \[0, 16\]/,
  );
  assert.throws(
    () =>
      SafetensorsFile.open(withHeader('gap.safetensors', { a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8)),
    /"a": .*gap/,
  );
  assert.throws(
    () =>
      SafetensorsFile.open(
        withHeader('range.safetensors', { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8),
      ),
    /range\.safetensors: "a": truncated/,
  );
  assert.throws(
    () =>
      SafetensorsFile.open(
        withHeader('size.safetensors', { a: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, 16),
      ),
    /"a": data_offsets \[0, 16\] span 16 bytes, but F32 \[3\] needs 12/,
  );
  assert.throws(
    () =>
      SafetensorsFile.open(
        withHeader('dtype.safetensors', { a: { dtype: 'Q4_K', shape: [1], data_offsets: [0, 1] } }, 1),
      ),
    /dtype\.safetensors: "a": unknown dtype "Q4_K"/,
  );
  assert.throws(
    () =>
      SafetensorsFile.open(
        withHeader('trail.safetensors', { a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, 5),
      ),
    /4 unexpected bytes after the last tensor/,
  );
  assert.throws(
    () => SafetensorsFile.open(withHeader('meta.safetensors', { __metadata__: { format: 1 } }, 0)),
    /"__metadata__": __metadata__ must map strings to strings/,
  );
});

test('a failed write leaves the previous file intact and no temporary file', () => {
  const path = join(tmp, 'atomic.safetensors');
  const t = Tensor.from([1, 2, 3], [3]);
  writeSafetensors(path, { t });
  const before = readFileSync(path);
  const gone = Tensor.from([1], [1]);
  gone.dispose();
  assert.throws(() => writeSafetensors(path, { t, gone }), /"gone" is disposed/);
  assert.throws(
    () =>
      writeSafetensors(path, [
        ['t', t],
        ['t', t],
      ]),
    /given twice/,
  );
  // A failure while the temporary file is being written removes it and keeps the old file.
  assert.throws(
    () =>
      withAtomicFile(path, (fd) => {
        writeSync(fd, 'partial');
        throw new Error('disk full');
      }),
    /disk full/,
  );
  assert.ok(readFileSync(path).equals(before));
  assert.equal(readdirSync(tmp).filter((n) => n.startsWith('atomic.safetensors.tmp')).length, 0);
  t.dispose();
});

test('a large tensor moves between file and native memory without a JS-side copy', () => {
  // 32 MB: JS ArrayBuffer memory must not grow by anything near that while writing or reading it.
  const t = Tensor.zeros([8 * 1024 * 1024]);
  const path = join(tmp, 'large.safetensors');
  const buffersBefore = process.memoryUsage().arrayBuffers;
  writeSafetensors(path, { t });
  const loaded = withSafetensors(path, (f) => f.load('t'));
  const grown = process.memoryUsage().arrayBuffers - buffersBefore;
  assert.ok(grown < 4 * 1024 * 1024, `JS buffers grew by ${grown} bytes`);
  assert.equal(loaded.numel, t.numel);
  t.dispose();
  loaded.dispose();
  rmSync(path);
});
