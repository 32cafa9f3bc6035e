/**
 * The SQLite databases of text-to-SQL datasets, opened read-only through better-sqlite3 (12.x; 13.x needs Node 22).
 * A database is a `.sqlite`/`.db` file (opened with readonly: true) or a `.sql` script of DDL + INSERTs (run into a
 * private in-memory database that is then made query_only), so bundled sets can keep reviewable text in git.
 * better-sqlite3 is an optional peer dependency, loaded on first use: installing lmforge compiles nothing for it,
 * and nothing else in lmforge pays for its native module.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** The part of better-sqlite3's Statement this project uses. */
export interface SqliteStatement {
  /** true when the statement does not write to the database */
  readonly readonly: boolean;
  /** true when the statement returns rows */
  readonly reader: boolean;
  raw(on: boolean): SqliteStatement;
  pluck(on: boolean): SqliteStatement;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
}

/** The part of better-sqlite3's Database this project uses. */
export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): SqliteDatabase;
  pragma(sql: string): unknown;
  close(): void;
}

type DatabaseConstructor = new (
  path: string,
  options?: { readonly?: boolean; fileMustExist?: boolean },
) => SqliteDatabase;

let loaded: DatabaseConstructor | undefined;

function sqlite(): DatabaseConstructor {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)('better-sqlite3') as DatabaseConstructor;
  } catch (e) {
    throw new SqlDatabaseError(
      `text-to-SQL datasets and the sql_execution metric need better-sqlite3 (an optional peer dependency of lmforge, so that installing lmforge compiles nothing): run \`npm install --save-exact better-sqlite3@12.11.1\` (12.x; 13.x needs Node 22). (${(e as Error).message.split('\n')[0]})`,
    );
  }
  return loaded;
}

export class SqlDatabaseError extends Error {
  override name = 'SqlDatabaseError';
  readonly userFacing = true;
}

/** File names tried for `db_id` under `dbDir`, in order: Spider's layout first, then flat files and scripts. */
export function databaseCandidates(dbDir: string, dbId: string): string[] {
  return [
    join(dbDir, dbId, `${dbId}.sqlite`),
    join(dbDir, `${dbId}.sqlite`),
    join(dbDir, `${dbId}.db`),
    join(dbDir, dbId, `${dbId}.sql`),
    join(dbDir, `${dbId}.sql`),
  ];
}

/** The database file of `db_id`, or null when there is none. */
export function findDatabase(dbDir: string, dbId: string): string | null {
  return databaseCandidates(dbDir, dbId).find((p) => existsSync(p)) ?? null;
}

/** Opens a database read-only: writes fail with "attempt to write a readonly database". */
export function openSqlDatabase(path: string): SqliteDatabase {
  const Database = sqlite();
  if (!existsSync(path)) throw new SqlDatabaseError(`SQLite database ${path} does not exist.`);
  if (path.endsWith('.sql')) {
    const db = new Database(':memory:');
    try {
      db.exec(readFileSync(path, 'utf8'));
    } catch (e) {
      db.close();
      throw new SqlDatabaseError(`SQL script ${path} does not run: ${(e as Error).message}. Fix the script.`);
    }
    db.pragma('query_only = ON');
    return db;
  }
  try {
    return new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new SqlDatabaseError(`Cannot open SQLite database ${path}: ${(e as Error).message}.`);
  }
}

/** The CREATE statements of a database's tables, one per line, as text-to-SQL prompts show the schema. */
export function schemaText(db: SqliteDatabase): string {
  const statements = db
    .prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL ORDER BY rowid")
    .pluck(true)
    .all() as string[];
  return statements.map((s) => `${s.replace(/\s+/g, ' ').trim()};`).join('\n');
}

const schemas = new Map<string, string>();

/** schemaText of the database at `path`, read once per process. */
export function schemaOf(path: string): string {
  let text = schemas.get(path);
  if (text === undefined) {
    const db = openSqlDatabase(path);
    try {
      text = schemaText(db);
    } finally {
      db.close();
    }
    schemas.set(path, text);
  }
  return text;
}
