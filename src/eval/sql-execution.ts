/**
 * The `sql_execution` metric: the predicted and the gold SQL run read-only against the record's SQLite database,
 * each with a time limit; the prediction is right when both return the same rows as a multiset, or in the same
 * order when the gold query has an ORDER BY (as Spider's execution accuracy treats ordered answers). Every error
 * and timeout is kept per sample, so a bad run shows which queries failed and why.
 */
import type { Text2SqlMeta } from '../data/text2sql.js';
import type { SqlOutcome, SqlRunner } from './sql-runner.js';

export type SqlVerdict =
  /** same result as the gold query */
  | 'match'
  /** ran, but returned other rows */
  | 'mismatch'
  /** the predicted query failed (syntax, unknown column, a write, ...) */
  | 'error'
  /** the predicted query ran past the time limit */
  | 'timeout'
  /** the gold query itself failed or timed out: the record is broken, not the model */
  | 'gold_error'
  /** the record names no database (a schema-only record): nothing to execute */
  | 'no_database';

export interface SqlJudgement {
  verdict: SqlVerdict;
  /** the query that was run, after extractSql */
  sql: string;
  /** the error of the failed query (predicted, or gold for gold_error) */
  error?: string;
}

/** The SQL of a generated answer: the first ```sql fenced block when there is one, else the whole text. */
export function extractSql(prediction: string): string {
  const fenced = /```(?:sql|sqlite)?[ \t]*\n?([\s\S]*?)```/i.exec(prediction);
  return (fenced ? fenced[1]! : prediction).trim();
}

/** True when the query has an ORDER BY outside its string literals and quoted names. */
export function hasOrderBy(sql: string): boolean {
  const bare = sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]/g, "''");
  return /\border\s+by\b/i.test(bare);
}

function failure(outcome: SqlOutcome): string {
  return outcome.status === 'timeout' ? 'timed out' : outcome.status === 'error' ? outcome.error : '';
}

/** Judges one prediction against its gold query. */
export async function judgeSql(
  runner: SqlRunner,
  meta: Text2SqlMeta | null,
  prediction: string,
  gold: string,
): Promise<SqlJudgement> {
  const sql = extractSql(prediction);
  if (meta === null || meta.database === null) return { verdict: 'no_database', sql };
  const expected = await runner.run(meta.database, gold);
  if (expected.status !== 'ok') return { verdict: 'gold_error', sql, error: `gold SQL: ${failure(expected)}` };
  if (sql === '') return { verdict: 'error', sql, error: 'the prediction holds no SQL' };
  const got = await runner.run(meta.database, sql);
  if (got.status === 'timeout') return { verdict: 'timeout', sql, error: `timed out after ${runner.timeoutMs} ms` };
  if (got.status === 'error') return { verdict: 'error', sql, error: got.error };
  const same = hasOrderBy(gold) ? got.ordered === expected.ordered : got.unordered === expected.unordered;
  return { verdict: same ? 'match' : 'mismatch', sql };
}

/** Totals over judged samples: execution accuracy x100 (over every sample) and the failure counts. */
export function sqlExecutionMetrics(verdicts: readonly SqlVerdict[]): Record<string, number> {
  const count = (v: SqlVerdict) => verdicts.filter((x) => x === v).length;
  return {
    predict_execution_accuracy: verdicts.length === 0 ? 0 : (100 * count('match')) / verdicts.length,
    predict_sql_errors: count('error'),
    predict_sql_timeouts: count('timeout'),
    predict_sql_gold_errors: count('gold_error'),
  };
}
