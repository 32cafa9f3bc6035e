/**
 * The text2sql dataset format and the bundled NL2SQL set: 100+ question/SQL pairs whose gold SQL runs on its
 * database and returns rows, prompts that carry the database's schema, Spider/BIRD column mapping, and clear errors
 * for a missing database or a bad sql_prompt.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { getDataset } from '../../src/data/dataset.js';
import { parseDatasetEntry } from '../../src/data/dataset-info.js';
import { openSqlDatabase, schemaOf } from '../../src/data/sqlite.js';
import { tempDir } from '../util/tokenizers.js';

const args = { dataset: 'text2sql_train', eval_dataset: 'text2sql_test', dataset_dir: 'examples/data' };

test('every bundled gold query runs read-only on its database and returns rows', async () => {
  const data = await getDataset(args as never, 'sft', { log: () => {} });
  const all = [...data.train_dataset!, ...data.eval_dataset!];
  assert.ok(all.length >= 100, `${all.length} pairs`);
  assert.deepEqual([...new Set(all.map((e) => e._sql?.db_id))].sort(), ['library', 'school', 'shop']);
  for (const e of all) {
    const db = openSqlDatabase(e._sql!.database!);
    try {
      const rows = db.prepare(e._response[0]!.content).raw(true).all() as unknown[][];
      assert.ok(rows.length > 0 && rows.every((r) => r.every((v) => v !== null)), e._prompt[0]!.content);
    } finally {
      db.close();
    }
    // The user turn carries the schema, then the question.
    assert.ok(e._prompt[0]!.content.startsWith(schemaOf(e._sql!.database!)), 'schema first');
    assert.match(e._prompt[0]!.content, /-- Question: \S/);
  }
  // Questions are not repeated between train and test.
  const train = new Set(data.train_dataset!.map((e) => e._prompt[0]!.content));
  assert.ok(data.eval_dataset!.every((e) => !train.has(e._prompt[0]!.content)));
});

test('BIRD-style columns, a schema column and sql_prompt slots', async () => {
  const dir = tempDir('text2sql');
  writeFileSync(
    join(dir, 'dev.json'),
    JSON.stringify([
      { question: 'How many?', SQL: 'SELECT count(*) FROM t', db_id: 'tiny', evidence: 'count the rows' },
      { question: 'Schema only', SQL: 'SELECT 1', ddl: 'CREATE TABLE z (q INTEGER);' },
    ]),
  );
  writeFileSync(join(dir, 'tiny.sql'), 'CREATE TABLE t (a INTEGER);\nINSERT INTO t VALUES (1);\n');
  writeFileSync(
    join(dir, 'dataset_info.json'),
    JSON.stringify({
      bird: {
        file_name: 'dev.json',
        formatting: 'text2sql',
        columns: { sql: 'SQL', evidence: 'evidence', schema: 'ddl' },
        sql_prompt: '[{db_id}] {schema} | {evidence} | {question}',
      },
    }),
  );
  const data = await getDataset({ dataset: 'bird', dataset_dir: dir } as never, 'sft', { log: () => {} });
  const [first, second] = data.train_dataset!;
  assert.equal(first!._prompt[0]!.content, '[tiny] CREATE TABLE t (a INTEGER); | count the rows | How many?');
  assert.equal(first!._response[0]!.content, 'SELECT count(*) FROM t');
  assert.equal(first!._sql?.database, join(dir, 'tiny.sql'));
  assert.equal(second!._prompt[0]!.content, '[] CREATE TABLE z (q INTEGER); |  | Schema only');
  assert.deepEqual(second!._sql, { db_id: '', database: null });
});

test('dataset_info errors name the entry and the fix', async () => {
  const where = 'dataset_info.json › x';
  assert.throws(
    () => parseDatasetEntry('x', { file_name: 'a.json', formatting: 'text2sql', sql_prompt: '{schema} {quesion}' }),
    (e: Error) => e.message.includes(where) && e.message.includes('unknown slot {quesion}'),
  );
  assert.throws(
    () => parseDatasetEntry('x', { file_name: 'a.json', formatting: 'text2sql', columns: { gold: 'q' } }),
    /unknown text2sql column "gold"/,
  );
  assert.throws(
    () => parseDatasetEntry('x', { file_name: 'a.json', db_dir: 'db' }),
    /for "formatting": "text2sql" only/,
  );
  const dir = tempDir('text2sql-missing');
  writeFileSync(join(dir, 'q.json'), JSON.stringify([{ question: 'q', query: 'SELECT 1', db_id: 'nowhere' }]));
  writeFileSync(
    join(dir, 'dataset_info.json'),
    JSON.stringify({ q: { file_name: 'q.json', formatting: 'text2sql', db_dir: 'dbs' } }),
  );
  await assert.rejects(
    getDataset({ dataset: 'q', dataset_dir: dir } as never, 'sft', { log: () => {} }),
    /no database for db_id "nowhere": tried .*nowhere\.sqlite/,
  );
});
