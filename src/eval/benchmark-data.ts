/**
 * The MMLU / C-Eval / CMMLU folders LLaMA-Factory's evaluation scripts read (task_dir/<name>/mapping.json plus one
 * CSV per subject and split). Split names: `test`, `validation` (folder `val`) and `train` (folder `dev`, the
 * n-shot pool). Layouts:
 * - mmlu:  [data/]{dev,val,test}/<subject>_<split>.csv, no header: question, A, B, C, D, answer
 * - ceval: {dev,val,test}/<subject>_<split>.csv, header id,question,A,B,C,D,answer[,explanation] (test: no answer)
 * - cmmlu: {dev,test}/<subject>.csv, header with an index column: ,Question,A,B,C,D,Answer
 * Cells go through what LLaMA-Factory's loading scripts do to them: pandas.read_csv types each column, then
 * `datasets` casts the typed values to the declared string features with Arrow. So a column of integers prints
 * "007" as "7", a float column prints 1.0 as "1", a boolean column prints "True" as "true", and a missing number as
 * "nan"; text columns keep their text (a missing text cell becomes "None").
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { ChoiceExample } from './eval-template.js';

export const CATEGORIES = ['STEM', 'Social Sciences', 'Humanities', 'Other'] as const;
export type Category = (typeof CATEGORIES)[number];

export interface SubjectInfo {
  /** Display name used in the prompt ("abstract algebra", "高等数学"). */
  name: string;
  category: Category;
}

export type EvalSplit = 'test' | 'validation' | 'train';

export interface EvalTask {
  /** Folder under task_dir: mmlu, ceval, cmmlu. */
  name: string;
  split: EvalSplit;
}

export class EvalDataError extends Error {
  readonly userFacing = true;
  constructor(message: string) {
    super(message);
    this.name = 'EvalDataError';
  }
}

/** `mmlu_test` -> {name: 'mmlu', split: 'test'}, as LLaMA-Factory splits `--task` at the underscore. */
export function parseTask(task: string): EvalTask {
  const [name, split, ...rest] = task.split('_');
  if (!name || !split || rest.length > 0 || !['test', 'validation', 'train'].includes(split)) {
    throw new EvalDataError(
      `--task '${task}' is not <benchmark>_<split>: use e.g. mmlu_test, ceval_validation or cmmlu_test.`,
    );
  }
  return { name, split: split as EvalSplit };
}

export function readMapping(taskDir: string, name: string): Map<string, SubjectInfo> {
  const file = join(taskDir, name, 'mapping.json');
  if (!existsSync(file)) {
    throw new EvalDataError(
      `${file} does not exist. Put the benchmark under --task_dir as <task_dir>/${name}/mapping.json plus its CSV ` +
        'folders (see docs/evaluation.md for where to download MMLU, C-Eval and CMMLU).',
    );
  }
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { name?: unknown; category?: unknown }>;
  const subjects = new Map<string, SubjectInfo>();
  for (const [subject, info] of Object.entries(raw)) {
    if (typeof info?.name !== 'string' || !(CATEGORIES as readonly unknown[]).includes(info.category)) {
      throw new EvalDataError(
        `${file} › ${subject}: needs {"name": string, "category": one of ${CATEGORIES.join(', ')}}.`,
      );
    }
    subjects.set(subject, { name: info.name, category: info.category as Category });
  }
  return subjects;
}

const SPLIT_FOLDER: Record<EvalSplit, string> = { test: 'test', validation: 'val', train: 'dev' };

/** The rows of one subject's split. */
export function loadSubject(taskDir: string, name: string, subject: string, split: EvalSplit): ChoiceExample[] {
  const root = join(taskDir, name);
  const folder = SPLIT_FOLDER[split];
  const candidates =
    name === 'cmmlu'
      ? [join(root, folder, `${subject}.csv`)]
      : [join(root, folder, `${subject}_${folder}.csv`), join(root, 'data', folder, `${subject}_${folder}.csv`)];
  const file = candidates.find((f) => existsSync(f));
  if (!file) {
    throw new EvalDataError(`Missing ${split} data for subject '${subject}': looked for ${candidates.join(' and ')}.`);
  }
  const records = parse(readFileSync(file, 'utf8'), { bom: true, relax_quotes: false }) as string[][];
  let header: string[];
  let rows: string[][];
  if (name === 'mmlu') {
    header = ['question', 'A', 'B', 'C', 'D', 'answer'];
    rows = records;
  } else {
    header = records[0] ?? [];
    rows = records.slice(1);
    if (name === 'cmmlu') {
      // index_col=0, then Question/Answer renamed.
      header = header.slice(1).map((h) => (h === 'Question' ? 'question' : h === 'Answer' ? 'answer' : h));
      rows = rows.map((r) => r.slice(1));
    }
  }
  const columns = header.map((_, c) => pandasColumn(rows.map((r) => r[c] ?? '')));
  const index = (key: string) => header.indexOf(key);
  for (const key of ['question', 'A', 'B', 'C', 'D']) {
    if (index(key) < 0) throw new EvalDataError(`${file}: no '${key}' column (columns: ${header.join(', ')}).`);
  }
  return rows.map((r, i) => {
    if (r.length !== header.length) {
      throw new EvalDataError(`${file}: row ${i + 1} has ${r.length} cells, the header ${header.length}.`);
    }
    const cell = (key: string) => (index(key) < 0 ? '' : columns[index(key)]![i]!);
    return {
      question: cell('question'),
      A: cell('A'),
      B: cell('B'),
      C: cell('C'),
      D: cell('D'),
      answer: cell('answer'),
    };
  });
}

// pandas' default NA strings.
const NA_VALUES = new Set([
  '',
  '#N/A',
  '#N/A N/A',
  '#NA',
  '-1.#IND',
  '-1.#QNAN',
  '-NaN',
  '-nan',
  '1.#IND',
  '1.#QNAN',
  '<NA>',
  'N/A',
  'NA',
  'NULL',
  'NaN',
  'None',
  'n/a',
  'nan',
  'null',
]);
const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BOOL_VALUES = new Map([
  ['True', 'true'],
  ['TRUE', 'true'],
  ['true', 'true'],
  ['False', 'false'],
  ['FALSE', 'false'],
  ['false', 'false'],
]);

/** A column's cells as the prompt sees them after pandas typed the column and Arrow cast it to strings. */
function pandasColumn(cells: string[]): string[] {
  const present = cells.filter((c) => !NA_VALUES.has(c));
  const missing = present.length < cells.length;
  if (present.length === 0) return cells.map(() => 'None');
  if (!missing && present.every((c) => INT_RE.test(c))) return cells.map((c) => BigInt(c).toString());
  if (!missing && present.every((c) => BOOL_VALUES.has(c))) return cells.map((c) => BOOL_VALUES.get(c)!);
  if (present.every((c) => FLOAT_RE.test(c))) {
    // Arrow writes the shortest round-trip digits without a trailing ".0" (1.0 -> "1"); NaN stays "nan".
    return cells.map((c) => (NA_VALUES.has(c) ? 'nan' : String(Number(c))));
  }
  // Object columns: a missing value reaches the prompt as Python's None.
  return cells.map((c) => (NA_VALUES.has(c) ? 'None' : c));
}
