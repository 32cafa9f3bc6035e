/**
 * Reads local data files into plain records: json (array, JSON lines, or an object of equal-length column arrays),
 * jsonl, csv, parquet and txt (one record per line in column `text`), as LLaMA-Factory's file types map to
 * HF datasets' builders. A folder loads every file in it, which must all be of one type.
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { parse as parseCsv } from 'csv-parse/sync';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { describeJsonError, typeName } from './dataset-info.js';
import { DatasetFileError } from './errors.js';
import type { SeededRandom } from './random.js';

export type DataRow = Record<string, unknown>;

/** Where a record came from: its file and its index in that file. */
export interface RowOrigin {
  file: string;
  index: number;
}

/** Records loaded from one dataset, each with its origin (kept through sampling so reports stay exact). */
export interface LoadedRows {
  rows: DataRow[];
  origins: RowOrigin[];
}

/** LLaMA-Factory's FILEEXT2TYPE: file extension -> HF datasets builder. */
export const FILE_EXT_TO_TYPE: Readonly<Record<string, 'arrow' | 'csv' | 'json' | 'parquet' | 'text'>> = {
  arrow: 'arrow',
  csv: 'csv',
  json: 'json',
  jsonl: 'json',
  parquet: 'parquet',
  txt: 'text',
};

export function fileType(file: string): 'arrow' | 'csv' | 'json' | 'parquet' | 'text' | undefined {
  return FILE_EXT_TO_TYPE[extname(file).slice(1).toLowerCase()];
}

/** The data files of a path: the file itself, or every file of a folder (sorted; hidden files skipped). */
export function listDataFiles(localPath: string): string[] {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(localPath);
  } catch {
    throw new DatasetFileError(
      localPath,
      'file or folder not found. Check "file_name" in dataset_info.json and dataset_dir.',
    );
  }
  const files = stat.isDirectory()
    ? readdirSync(localPath)
        .filter((f) => !f.startsWith('.'))
        .sort()
        .map((f) => join(localPath, f))
        .filter((f) => statSync(f).isFile())
    : [localPath];
  if (files.length === 0) throw new DatasetFileError(localPath, 'the folder holds no data files.');
  const first = fileType(files[0] as string);
  if (first === undefined) {
    throw new DatasetFileError(
      files[0] as string,
      `unsupported file type. Allowed file types: ${Object.keys(FILE_EXT_TO_TYPE).join(', ')}.`,
    );
  }
  const other = files.find((f) => fileType(f) !== first);
  if (other !== undefined) {
    throw new DatasetFileError(
      localPath,
      `file types should be identical, but ${basename(files[0] as string)} is ${first} and ${basename(other)} is ` +
        `${fileType(other) ?? 'unsupported'}. Keep one type per dataset folder.`,
    );
  }
  return files;
}

/** Loads every file and concatenates their records in file order. */
export async function loadDataFiles(files: readonly string[]): Promise<LoadedRows> {
  const out: LoadedRows = { rows: [], origins: [] };
  for (const file of files) {
    const rows = await loadDataFile(file);
    rows.forEach((row, index) => {
      out.rows.push(row);
      out.origins.push({ file, index });
    });
  }
  return out;
}

export async function loadDataFile(file: string): Promise<DataRow[]> {
  const type = fileType(file);
  switch (type) {
    case 'json':
      return parseJsonRecords(file, readText(file));
    case 'csv':
      return parseCsvRecords(file, readText(file));
    case 'text':
      return parseTextRecords(readText(file));
    case 'parquet':
      return readParquet(file);
    case 'arrow':
      return readArrow(file);
    default:
      throw new DatasetFileError(
        file,
        `unsupported file type. Allowed file types: ${Object.keys(FILE_EXT_TO_TYPE).join(', ')}.`,
      );
  }
}

function readText(file: string): string {
  try {
    // a UTF-8 byte-order mark would otherwise break the first key or line
    return readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (err) {
    throw new DatasetFileError(file, `cannot read: ${(err as Error).message}`);
  }
}

function asRecord(file: string, value: unknown, where: string): DataRow {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DatasetFileError(file, `${where} must be a JSON object (one record), got ${typeName(value)}.`);
  }
  return value as DataRow;
}

/**
 * A .json/.jsonl file: a JSON array of records, an object of equal-length column arrays, an object whose one key
 * holds the array of records, or JSON lines.
 * Syntax errors name the line and column (JSON lines: the line).
 */
export function parseJsonRecords(file: string, text: string): DataRow[] {
  const trimmed = text.trimStart();
  if (trimmed.length === 0) return [];
  let whole: unknown;
  let wholeError: Error | undefined;
  try {
    whole = JSON.parse(text);
  } catch (err) {
    wholeError = err as Error;
  }
  if (wholeError === undefined) {
    if (Array.isArray(whole)) return whole.map((v, i) => asRecord(file, v, `element ${i}`));
    const obj = asRecord(file, whole, 'the top level');
    const values = Object.values(obj);
    // {"data": [{...}, ...]}: a list of records wrapped in one key; HF would need `field`, we unwrap it
    const only = values.length === 1 ? values[0] : undefined;
    if (
      Array.isArray(only) &&
      only.length > 0 &&
      only.every((v) => typeof v === 'object' && v !== null && !Array.isArray(v))
    ) {
      return only as DataRow[];
    }
    if (values.length > 0 && values.every((v) => Array.isArray(v))) {
      const n = (values[0] as unknown[]).length;
      if (values.every((v) => (v as unknown[]).length === n)) {
        const keys = Object.keys(obj);
        return Array.from({ length: n }, (_, i) => Object.fromEntries(keys.map((k) => [k, (obj[k] as unknown[])[i]])));
      }
    }
    return [obj];
  }
  if (trimmed.startsWith('[')) {
    throw new DatasetFileError(file, `malformed JSON: ${describeJsonError(text, wholeError)}.`);
  }
  // JSON lines: one object per non-empty line
  const rows: DataRow[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line.length === 0) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new DatasetFileError(
        file,
        `malformed JSON on line ${i + 1}: ${describeJsonError(line, err as Error).replace(/ at line 1 /, ' at ')}.`,
      );
    }
    rows.push(asRecord(file, value, `line ${i + 1}`));
  }
  return rows;
}

/**
 * CSV with a header row. Empty cells become null (as pandas' NaN -> None); a column whose every value is
 * true/false becomes booleans (so a KTO `kto_tag` column works), everything else stays text.
 */
export function parseCsvRecords(file: string, text: string): DataRow[] {
  let records: Record<string, string>[];
  try {
    records = parseCsv(text, { columns: true, skip_empty_lines: true, relax_column_count: false });
  } catch (err) {
    throw new DatasetFileError(file, `malformed CSV: ${(err as Error).message}`);
  }
  const rows: DataRow[] = records.map((r) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === '' ? null : v])),
  );
  const columns = records.length > 0 ? Object.keys(records[0] as object) : [];
  for (const col of columns) {
    const values = rows.map((r) => r[col]).filter((v) => v !== null);
    if (values.length > 0 && values.every((v) => /^(true|false)$/i.test(v as string))) {
      for (const r of rows) if (r[col] !== null) r[col] = (r[col] as string).toLowerCase() === 'true';
    }
  }
  return rows;
}

/** HF's text builder: one record per line in column `text`; a final newline does not add an empty record. */
export function parseTextRecords(text: string): DataRow[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) => ({ text: line }));
}

async function readParquet(file: string): Promise<DataRow[]> {
  try {
    const buffer = await asyncBufferFromFile(file);
    const rows = (await parquetReadObjects({ file: buffer, compressors })) as DataRow[];
    return rows.map((r) => toPlain(r) as DataRow);
  } catch (err) {
    throw new DatasetFileError(file, `cannot read parquet: ${(err as Error).message}`);
  }
}

/**
 * Arrow IPC, file or stream format (what HF datasets' save_to_disk and the hub cache write), via Apache Arrow's own
 * JavaScript reader. Nested lists and structs (sharegpt conversations) become plain arrays and objects.
 */
function readArrow(file: string): DataRow[] {
  let table: ReturnType<typeof tableFromIPC>;
  try {
    table = tableFromIPC(readFileSync(file));
  } catch (err) {
    throw new DatasetFileError(file, `cannot read Arrow IPC data: ${(err as Error).message}`);
  }
  return table.toArray().map((row) => toPlain(row) as DataRow);
}

/** Parquet and Arrow int64 arrive as bigint, Arrow rows and lists as proxies; records downstream are plain JSON. */
function toPlain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (
    v !== null &&
    typeof v === 'object' &&
    typeof (v as { toJSON?: unknown }).toJSON === 'function' &&
    !(v instanceof Date)
  )
    return toPlain((v as { toJSON(): unknown }).toJSON()); // an Arrow row (object) or list vector (array)
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlain(x)]));
  }
  return v;
}

/**
 * LLaMA-Factory's `num_samples`: a random permutation truncated to the target (every record appears once before
 * any repeats), then, if more are wanted than exist, extra records drawn with replacement.
 */
export function sampleRows(data: LoadedRows, numSamples: number, rng: SeededRandom): LoadedRows {
  const n = data.rows.length;
  if (n === 0) return data;
  const indexes = rng.permutation(n).slice(0, numSamples);
  while (indexes.length < numSamples) indexes.push(rng.int(n));
  return selectRows(data, indexes);
}

/** LLaMA-Factory's `max_samples`: keep the first min(max, n) records. */
export function truncateRows(data: LoadedRows, maxSamples: number): LoadedRows {
  const n = Math.min(maxSamples, data.rows.length);
  return { rows: data.rows.slice(0, n), origins: data.origins.slice(0, n) };
}

export function selectRows(data: LoadedRows, indexes: readonly number[]): LoadedRows {
  return {
    rows: indexes.map((i) => data.rows[i] as DataRow),
    origins: indexes.map((i) => data.origins[i] as RowOrigin),
  };
}
