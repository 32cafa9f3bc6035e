/**
 * The NL2SQL example, shortened for CI: examples/text2sql/tiny_full_sft.yaml's before/after run with a few steps
 * and short generations. Its execution accuracy is computed on the bundled databases, and checked here against an
 * independent in-process execution of every generated query; the gold SQL judged against itself scores 100.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { beforeAfter } from '../../examples/text2sql/before-after.js';
import { getDataset } from '../../src/data/dataset.js';
import { openSqlDatabase } from '../../src/data/sqlite.js';
import { PredictionScorer } from '../../src/eval/prediction-scorer.js';
import { hasOrderBy } from '../../src/eval/sql-execution.js';

const out = join(tmpdir(), `lmforge-text2sql-${process.pid}`);
after(() => rmSync(out, { recursive: true, force: true }));

function readJsonl(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
}

/** The verdict of one query, executed here with better-sqlite3 directly. */
function verdictHere(database: string, sql: string, gold: string): string {
  const db = openSqlDatabase(database);
  try {
    const rows = (q: string) => (db.prepare(q).raw(true).all() as unknown[][]).map((r) => JSON.stringify(r));
    const expected = rows(gold);
    let got: string[];
    try {
      if (sql === '' || !db.prepare(sql).readonly) return 'error';
      got = rows(sql);
    } catch {
      return 'error';
    }
    if (!hasOrderBy(gold)) {
      expected.sort();
      got.sort();
    }
    return JSON.stringify(got) === JSON.stringify(expected) ? 'match' : 'mismatch';
  } finally {
    db.close();
  }
}

test('the gold SQL judged against itself has 100% execution accuracy', async () => {
  const data = await getDataset({ eval_dataset: 'text2sql_test', dataset_dir: 'examples/data' } as never, 'sft', {
    log: () => {},
  });
  const scorer = await PredictionScorer.create({ metrics: ['sql_execution'] });
  try {
    const gold = data.eval_dataset!.map((e) => ({
      prediction: e._response[0]!.content,
      reference: e._response[0]!.content,
      sql: e._sql!,
    }));
    await scorer.scoreBatch(gold);
    const m = await scorer.finish(() => []);
    assert.equal(m.predict_execution_accuracy, 100);
    assert.equal(m.predict_sql_errors, 0);
  } finally {
    scorer.close();
  }
});

test('NL2SQL example: execution accuracy before and after a short full SFT, per sample as executed here', async () => {
  const r = await beforeAfter('examples/text2sql/tiny_full_sft.yaml', {
    output_dir: out,
    max_steps: 4,
    max_new_tokens: 24,
    per_device_eval_batch_size: 11,
    logging_steps: 2,
    plot_loss: false,
  });
  assert.equal(r.samples, 21);
  const gold = JSON.parse(readFileSync('examples/data/text2sql/test.json', 'utf8')) as {
    db_id: string;
    query: string;
  }[];
  for (const [name, dir] of [
    ['before', join(out, 'before')],
    ['after', out],
  ] as const) {
    const scores = readJsonl(join(dir, 'sample_scores.jsonl'));
    assert.equal(scores.length, 21, name);
    let matches = 0;
    for (const [i, s] of scores.entries()) {
      const database = `examples/data/text2sql/${gold[i]!.db_id}.sql`;
      const here = verdictHere(database, s.sql as string, gold[i]!.query);
      // A timeout is an error here (nothing runs 5 s on these tables); the metric keeps them apart.
      const verdict = s.sql_verdict === 'timeout' ? 'error' : s.sql_verdict;
      assert.equal(verdict, here, `${name} sample ${i}: ${s.sql}`);
      if (verdict === 'error') assert.ok(typeof s.sql_error === 'string', `${name} sample ${i} says why`);
      if (verdict === 'match') matches++;
    }
    const m = r[name];
    assert.equal(m.predict_execution_accuracy, (100 * matches) / 21, name);
    assert.equal(m.predict_sql_errors, scores.filter((s) => s.sql_verdict === 'error').length, name);
  }
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'execution_accuracy.json'), 'utf8')), r);
});
