import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  DatasetFileError,
  listDataFiles,
  loadDataFile,
  loadDataFiles,
  SeededRandom,
  sampleRows,
  truncateRows,
} from '../../src/data/index.js';
import { writeParquet } from '../util/parquet-writer.js';
import { tempDataDir } from './temp-data.js';

const dir = tempDataDir({
  'array.json': [
    { instruction: 'a', output: '1' },
    { instruction: 'b', output: '2' },
  ],
  'columnar.json': { instruction: ['a', 'b', 'c'], output: ['1', '2', '3'] },
  'wrapped.json': { data: [{ instruction: 'w' }] },
  'lines.json': '{"instruction": "a"}\n\n{"instruction": "b"}\n',
  'data.jsonl': '\uFEFF{"text": "x"}\n{"text": "y"}\n',
  'data.csv': 'instruction,input,output,label\nhi,,hello,True\n"a, b","q","r",false\n',
  'data.txt': 'first line\nsecond line\n\nfourth\n',
  'data.parquet': writeParquet([
    { name: 'instruction', values: ['p1', '问题'] },
    { name: 'n', values: [5, 6] },
    { name: 'label', values: [true, false] },
  ]),
  'data.arrow': 'not really arrow',
  'bad.json': '[\n  {"a": 1},\n  {"a": 2,}\n]',
  'bad.jsonl': '{"a": 1}\n{"a": 2\n',
  'scalars.json': '[1, 2]',
  'folder/part-0.jsonl': '{"text": "p0"}\n',
  'folder/part-1.jsonl': '{"text": "p1"}\n{"text": "p2"}\n',
  'folder/.hidden': 'ignored',
  'mixed/a.json': '[]',
  'mixed/b.csv': 'x\n1\n',
  'odd.xlsx': '',
});

test('json: array, object of columns, and JSON lines in a .json file', async () => {
  assert.deepEqual(await loadDataFile(join(dir, 'array.json')), [
    { instruction: 'a', output: '1' },
    { instruction: 'b', output: '2' },
  ]);
  assert.deepEqual((await loadDataFile(join(dir, 'columnar.json')))[2], { instruction: 'c', output: '3' });
  assert.deepEqual(await loadDataFile(join(dir, 'lines.json')), [{ instruction: 'a' }, { instruction: 'b' }]);
  assert.deepEqual(await loadDataFile(join(dir, 'wrapped.json')), [{ instruction: 'w' }]);
});

test('jsonl (with a byte-order mark), csv, txt and parquet', async () => {
  assert.deepEqual(await loadDataFile(join(dir, 'data.jsonl')), [{ text: 'x' }, { text: 'y' }]);
  // empty cells become null; an all-true/false column becomes booleans; quoted commas survive
  assert.deepEqual(await loadDataFile(join(dir, 'data.csv')), [
    { instruction: 'hi', input: null, output: 'hello', label: true },
    { instruction: 'a, b', input: 'q', output: 'r', label: false },
  ]);
  // HF's text builder: every line is a record (empty ones too); the final newline adds none
  assert.deepEqual(await loadDataFile(join(dir, 'data.txt')), [
    { text: 'first line' },
    { text: 'second line' },
    { text: '' },
    { text: 'fourth' },
  ]);
  assert.deepEqual(await loadDataFile(join(dir, 'data.parquet')), [
    { instruction: 'p1', n: 5, label: true },
    { instruction: '问题', n: 6, label: false },
  ]);
});

test('arrow files: HF datasets-style IPC streams and files, nested conversations, bad data named', async () => {
  const { tableFromArrays, tableToIPC, vectorFromArray, Table, List, Struct, Field, Utf8 } = await import(
    'apache-arrow'
  );
  const turn = new Struct([new Field('from', new Utf8(), false), new Field('value', new Utf8(), false)]);
  const conversations = vectorFromArray(
    [
      [
        { from: 'human', value: '你好' },
        { from: 'gpt', value: 'Hello!' },
      ],
      [{ from: 'human', value: 'hi' }],
    ],
    new List(new Field('item', turn, false)),
  );
  const table = new Table({ conversations, id: tableFromArrays({ id: BigInt64Array.from([7n, 8n]) }).getChild('id')! });
  const { writeFileSync } = await import('node:fs');
  for (const format of ['stream', 'file'] as const) {
    const path = join(dir, `conv-${format}.arrow`);
    writeFileSync(path, tableToIPC(table, format));
    const rows = await loadDataFile(path);
    assert.deepEqual(rows, [
      {
        conversations: [
          { from: 'human', value: '你好' },
          { from: 'gpt', value: 'Hello!' },
        ],
        id: 7,
      },
      { conversations: [{ from: 'human', value: 'hi' }], id: 8 },
    ]);
  }
  await assert.rejects(loadDataFile(join(dir, 'data.arrow')), (e: Error) => {
    assert.ok(e instanceof DatasetFileError);
    assert.match(e.message, /data\.arrow: cannot read Arrow IPC data/);
    return true;
  });
});

test('malformed JSON names the file and the line (and column)', async () => {
  await assert.rejects(loadDataFile(join(dir, 'bad.json')), /bad\.json: malformed JSON: .* at line 3 column 11/);
  await assert.rejects(loadDataFile(join(dir, 'bad.jsonl')), /bad\.jsonl: malformed JSON on line 2/);
  await assert.rejects(loadDataFile(join(dir, 'scalars.json')), /scalars\.json: element 0 must be a JSON object/);
});

test('a folder loads all its files in name order; types must match; origins are kept', async () => {
  const files = listDataFiles(join(dir, 'folder'));
  assert.deepEqual(
    files.map((f) => f.slice(dir.length + 1)),
    ['folder/part-0.jsonl', 'folder/part-1.jsonl'],
  );
  const loaded = await loadDataFiles(files);
  assert.deepEqual(
    loaded.rows.map((r) => r.text),
    ['p0', 'p1', 'p2'],
  );
  assert.deepEqual(loaded.origins[2], { file: join(dir, 'folder/part-1.jsonl'), index: 1 });
  assert.throws(
    () => listDataFiles(join(dir, 'mixed')),
    /file types should be identical.*a\.json is json and b\.csv is csv/,
  );
  assert.throws(() => listDataFiles(join(dir, 'odd.xlsx')), /unsupported file type\. Allowed file types: arrow, csv/);
  assert.throws(() => listDataFiles(join(dir, 'missing.json')), /missing\.json: file or folder not found/);
});

test('num_samples: every record once before any repeats, then draws with replacement; max_samples truncates', () => {
  const rows = {
    rows: [0, 1, 2, 3, 4].map((i) => ({ i })),
    origins: [0, 1, 2, 3, 4].map((index) => ({ file: 'f', index })),
  };
  const fewer = sampleRows(rows, 3, new SeededRandom(1));
  assert.equal(fewer.rows.length, 3);
  assert.equal(new Set(fewer.rows.map((r) => r.i)).size, 3);
  const more = sampleRows(rows, 12, new SeededRandom(1));
  assert.equal(more.rows.length, 12);
  assert.deepEqual(
    more.rows
      .slice(0, 5)
      .map((r) => r.i as number)
      .sort(),
    [0, 1, 2, 3, 4],
  );
  assert.deepEqual(
    more.origins.map((o) => o.index),
    more.rows.map((r) => r.i),
  );
  // seeded: same seed, same sample
  assert.deepEqual(sampleRows(rows, 12, new SeededRandom(1)).rows, more.rows);
  assert.notDeepEqual(sampleRows(rows, 12, new SeededRandom(2)).rows, more.rows);
  assert.deepEqual(
    truncateRows(rows, 2).rows.map((r) => r.i),
    [0, 1],
  );
  assert.equal(truncateRows(rows, 99).rows.length, 5);
});
