/**
 * The `text2sql` dataset format (an lmforge extension of dataset_info.json): each record is a question, the id of
 * its SQLite database (`db_id`, Spider/BIRD style) or its schema as DDL, and the gold SQL. The user turn is
 * `sql_prompt` with its slots filled ({schema}, {question}, {evidence}, {db_id}); the gold SQL is the answer.
 * The schema comes from the record's schema column when it has one, else from the database's CREATE statements.
 *
 *   "spider_dev": { "file_name": "dev.json", "formatting": "text2sql", "db_dir": "database" }
 *   "bird_dev":   { "file_name": "dev.json", "formatting": "text2sql", "db_dir": "dev_databases",
 *                   "columns": { "sql": "SQL", "evidence": "evidence" } }
 *
 * Columns default to Spider's (question, query, db_id); a `columns` object overrides only the roles it names.
 * `db_dir` is relative to media_dir (which defaults to dataset_dir); each db_id is looked up as
 * `<db_dir>/<db_id>/<db_id>.sqlite`, `<db_dir>/<db_id>.sqlite|.db`, then `<db_id>.sql` scripts.
 */
import { isAbsolute, resolve } from 'node:path';
import { DatasetConfigError } from './errors.js';
import { databaseCandidates, findDatabase, schemaOf } from './sqlite.js';

export const TEXT2SQL_COLUMNS = ['question', 'sql', 'db_id', 'schema', 'evidence', 'system'] as const;
export type Text2SqlColumn = (typeof TEXT2SQL_COLUMNS)[number];
export const TEXT2SQL_KEYS = ['db_dir', 'sql_prompt'] as const;

export const TEXT2SQL_SLOTS = ['schema', 'question', 'evidence', 'db_id'] as const;

export const DEFAULT_SQL_PROMPT = '{schema}\n\n-- Answer with one SQLite query.\n-- Question: {question}';
export const DEFAULT_SQL_PROMPT_WITH_EVIDENCE =
  '{schema}\n\n-- Answer with one SQLite query.\n-- Hint: {evidence}\n-- Question: {question}';

export interface Text2SqlAttr {
  columns: Record<Text2SqlColumn, string | null>;
  /** folder of the databases, relative to media_dir; null = media_dir itself */
  db_dir: string | null;
  /** the user turn, with {schema}, {question}, {evidence}, {db_id} slots */
  prompt: string;
}

/** What a text-to-SQL record carries past tokenization for the sql_execution metric. */
export interface Text2SqlMeta {
  db_id: string;
  /** the database file, or null when the record gave only a schema */
  database: string | null;
}

const DEFAULT_COLUMNS: Text2SqlAttr['columns'] = {
  question: 'question',
  sql: 'query',
  db_id: 'db_id',
  schema: null,
  evidence: null,
  system: null,
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function text(where: string, v: Json | undefined, key: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new DatasetConfigError(`${where}: "${key}" must be a string, got ${typeof v}.`);
  return v;
}

/** The text2sql part of one dataset_info.json entry. */
export function parseText2SqlEntry(where: string, entry: { [k: string]: Json }): Text2SqlAttr {
  const columns = { ...DEFAULT_COLUMNS };
  const c = entry.columns;
  if (c !== undefined) {
    if (typeof c !== 'object' || c === null || Array.isArray(c))
      throw new DatasetConfigError(`${where}: "columns" must be an object.`);
    for (const [key, value] of Object.entries(c)) {
      if (!(TEXT2SQL_COLUMNS as readonly string[]).includes(key))
        throw new DatasetConfigError(
          `${where} › columns: unknown text2sql column "${key}". Allowed: ${TEXT2SQL_COLUMNS.join(', ')}.`,
        );
      columns[key as Text2SqlColumn] = text(`${where} › columns`, value, key);
    }
  }
  if (columns.question === null) throw new DatasetConfigError(`${where}: columns.question must name a column.`);
  if (columns.db_id === null && columns.schema === null)
    throw new DatasetConfigError(`${where}: a text2sql dataset needs columns.db_id or columns.schema.`);
  const prompt =
    text(where, entry.sql_prompt, 'sql_prompt') ??
    (columns.evidence === null ? DEFAULT_SQL_PROMPT : DEFAULT_SQL_PROMPT_WITH_EVIDENCE);
  for (const m of prompt.matchAll(/\{(\w+)\}/g)) {
    if (!(TEXT2SQL_SLOTS as readonly string[]).includes(m[1]!))
      throw new DatasetConfigError(
        `${where}: sql_prompt has an unknown slot {${m[1]}}. Slots: ${TEXT2SQL_SLOTS.map((s) => `{${s}}`).join(', ')}.`,
      );
  }
  if (!prompt.includes('{question}')) throw new DatasetConfigError(`${where}: sql_prompt must contain {question}.`);
  return { columns, db_dir: text(where, entry.db_dir, 'db_dir'), prompt };
}

export interface Text2SqlRecord {
  prompt: string;
  sql: string | null;
  system: string;
  meta: Text2SqlMeta;
}

/** Fails a record: the field and the rule it broke, as the converters report them. */
export type FailRecord = (field: string, rule: string) => never;

/** One record's prompt, gold SQL and database; `mediaDir` anchors db_dir. */
export function convertText2Sql(
  row: Readonly<Record<string, unknown>>,
  attr: Text2SqlAttr,
  mediaDir: string,
  fail: FailRecord,
): Text2SqlRecord {
  const c = attr.columns;
  const field = (role: Text2SqlColumn): string | null => {
    const column = c[role];
    if (column === null) return null;
    const v = row[column];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') fail(column, `the ${role} must be text, got ${typeof v}`);
    return v as string;
  };
  const question = field('question');
  if (question === null || question.trim() === '') fail(c.question!, 'a text2sql record needs a question');
  const dbId = field('db_id') ?? '';
  const dbDir =
    attr.db_dir === null ? mediaDir : isAbsolute(attr.db_dir) ? attr.db_dir : resolve(mediaDir, attr.db_dir);
  const database = dbId === '' ? null : findDatabase(dbDir, dbId);
  if (dbId !== '' && database === null)
    fail(
      c.db_id!,
      `no database for db_id "${dbId}": tried ${databaseCandidates(dbDir, dbId).join(', ')} (set db_dir in dataset_info.json)`,
    );
  let schema = field('schema');
  if (schema === null || schema.trim() === '') {
    if (database === null) fail(c.schema ?? c.db_id ?? 'db_id', 'a text2sql record needs a db_id or a schema');
    schema = schemaOf(database as string);
  }
  const slots: Record<string, string> = {
    schema: schema as string,
    question: (question as string).trim(),
    evidence: field('evidence') ?? '',
    db_id: dbId,
  };
  return {
    prompt: attr.prompt.replace(/\{(\w+)\}/g, (_, name: string) => slots[name] ?? ''),
    sql: field('sql'),
    system: field('system') ?? '',
    meta: { db_id: dbId, database },
  };
}
