/**
 * The sql_execution metric on hand-made SQL against a bundled database: right answers written differently match,
 * wrong rows, wrong order (when the gold orders), errors, writes and runaway queries are each counted as such, and a
 * file database is opened read-only.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openSqlDatabase } from '../../src/data/sqlite.js';
import {
  extractSql,
  hasOrderBy,
  judgeSql,
  type SqlVerdict,
  sqlExecutionMetrics,
} from '../../src/eval/sql-execution.js';
import { SqlRunner } from '../../src/eval/sql-runner.js';
import { tempDir } from '../util/tokenizers.js';

const school = { db_id: 'school', database: 'examples/data/text2sql/school.sql' };
const runner = new SqlRunner(1500);
after(() => runner.close());

test('extractSql takes the fenced block, else the whole answer', () => {
  assert.equal(extractSql('Here:\n```sql\nSELECT 1;\n```\nDone.'), 'SELECT 1;');
  assert.equal(extractSql('  SELECT name FROM t  '), 'SELECT name FROM t');
});

test('hasOrderBy ignores ORDER BY inside strings', () => {
  assert.equal(hasOrderBy('SELECT a FROM t ORDER  BY a'), true);
  assert.equal(hasOrderBy("SELECT a FROM t WHERE b = 'order by'"), false);
});

test('equivalent queries match; other rows, errors, writes and timeouts do not', async () => {
  const gold = "SELECT name FROM teacher WHERE subject = 'Math'";
  const cases: [string, string, string][] = [
    ["SELECT T.name FROM teacher AS T WHERE T.subject = 'Math' ORDER BY T.name DESC", gold, 'match'],
    ["```sql\nSELECT name FROM teacher WHERE subject IN ('Math');\n```", gold, 'match'],
    ["SELECT name FROM teacher WHERE subject = 'Physics'", gold, 'mismatch'],
    ["SELECT name, subject FROM teacher WHERE subject = 'Math'", gold, 'mismatch'],
    ['SELECT nme FROM teacher', gold, 'error'],
    ['DELETE FROM teacher', gold, 'error'],
    ['', gold, 'error'],
    ['WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c', gold, 'timeout'],
    // The gold orders: the same rows in another order are wrong, the same order is right.
    ['SELECT name FROM teacher ORDER BY salary ASC', 'SELECT name FROM teacher ORDER BY salary DESC', 'mismatch'],
    ['SELECT name FROM teacher ORDER BY -salary', 'SELECT name FROM teacher ORDER BY salary DESC', 'match'],
    // Duplicates count: a multiset, not a set.
    ['SELECT DISTINCT city FROM student', 'SELECT city FROM student', 'mismatch'],
    ['SELECT name FROM teacher', 'SELECT nonsense FROM teacher', 'gold_error'],
  ];
  const verdicts: SqlVerdict[] = [];
  for (const [pred, g, want] of cases) {
    const judged = await judgeSql(runner, school, pred, g);
    assert.equal(judged.verdict, want, `${pred} vs ${g}: ${judged.error ?? ''}`);
    if (want === 'error' || want === 'timeout' || want === 'gold_error') assert.ok(judged.error, pred);
    verdicts.push(judged.verdict);
  }
  // After a timeout killed the child, the next query runs in a fresh one.
  assert.equal((await judgeSql(runner, school, 'SELECT count(*) FROM course', 'SELECT 7')).verdict, 'match');
  const m = sqlExecutionMetrics(verdicts);
  assert.equal(m.predict_execution_accuracy, (100 * 3) / cases.length);
  assert.equal(m.predict_sql_errors, 3);
  assert.equal(m.predict_sql_timeouts, 1);
  assert.equal(m.predict_sql_gold_errors, 1);
  assert.equal((await judgeSql(runner, { db_id: 'x', database: null }, 'SELECT 1', 'SELECT 1')).verdict, 'no_database');
});

test('a .sqlite file is opened read-only', async () => {
  const file = join(tempDir('sqlfile'), 'shop.sqlite');
  execFileSync(process.execPath, [
    '-e',
    `const D = require('better-sqlite3'); const db = new D(${JSON.stringify(file)}); db.exec('CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1), (2);'); db.close();`,
  ]);
  const db = openSqlDatabase(file);
  assert.throws(() => db.exec('INSERT INTO t VALUES (3)'), /readonly/);
  db.close();
  const judged = await judgeSql(runner, { db_id: 'shop', database: file }, 'DROP TABLE t', 'SELECT a FROM t');
  assert.equal(judged.verdict, 'error');
  assert.equal(
    (await judgeSql(runner, { db_id: 'shop', database: file }, 'SELECT sum(a) FROM t', 'SELECT 3')).verdict,
    'match',
  );
});
