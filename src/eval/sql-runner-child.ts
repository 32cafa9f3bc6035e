/**
 * The child process of SqlRunner: runs one read-only query at a time against a cached database and answers with
 * the row count and two digests of the result (in order, and as a multiset), so no result set crosses the pipe.
 * It lives in its own process because a runaway query can only be stopped by killing the process that runs it.
 */
import { createHash } from 'node:crypto';
import { openSqlDatabase, type SqliteDatabase } from '../data/sqlite.js';
import type { SqlReply, SqlRequest } from './sql-runner.js';

const databases = new Map<string, SqliteDatabase>();

/** One row as text that tells 1 from '1' and a blob from text. */
function canonicalRow(row: readonly unknown[]): string {
  return JSON.stringify(
    row.map((v) =>
      typeof v === 'bigint' ? { int: v.toString() } : Buffer.isBuffer(v) ? { blob: v.toString('hex') } : v,
    ),
  );
}

function digest(lines: readonly string[]): string {
  const hash = createHash('sha256');
  for (const line of lines) hash.update(line).update('\n');
  return hash.digest('hex');
}

function run(request: SqlRequest): SqlReply {
  try {
    let db = databases.get(request.database);
    if (db === undefined) {
      db = openSqlDatabase(request.database);
      databases.set(request.database, db);
    }
    const statement = db.prepare(request.sql);
    if (!statement.readonly) return { id: request.id, ok: false, error: 'not a read-only query (only reads are run)' };
    if (!statement.reader) return { id: request.id, ok: false, error: 'the statement returns no rows' };
    const rows = (statement.raw(true).all() as unknown[][]).map(canonicalRow);
    return { id: request.id, ok: true, rows: rows.length, ordered: digest(rows), unordered: digest([...rows].sort()) };
  } catch (e) {
    return { id: request.id, ok: false, error: (e as Error).message };
  }
}

process.on('message', (request: SqlRequest) => process.send?.(run(request)));
process.on('disconnect', () => process.exit(0));
