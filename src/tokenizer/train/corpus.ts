/**
 * The texts a tokenizer is trained or measured on: plain files (.txt one text per line; .json/.jsonl/.csv/.parquet
 * records, every string field) or datasets named in dataset_info.json (their prompt/query/response/system columns,
 * or the content of every message).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type DatasetAttr, getDatasetList, resolveDatasetDir } from '../../data/dataset-info.js';
import { type DataRow, fileType, listDataFiles, loadDataFiles } from '../../data/loaders.js';
import { TokenizerError } from '../errors.js';

export interface CorpusSource {
  /** Files to read directly. */
  textFiles: readonly string[];
  /** Dataset names from `datasetDir`/dataset_info.json. */
  datasets: readonly string[];
  datasetDir: string;
  /** Records to read at most from each file or dataset (null: all). */
  maxSamples: number | null;
}

function stringsOf(value: unknown, out: string[]): void {
  if (typeof value === 'string') {
    if (value.length > 0) out.push(value);
  } else if (Array.isArray(value)) {
    for (const v of value) stringsOf(v, out);
  } else if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) stringsOf(v, out);
  }
}

function datasetTexts(row: DataRow, attr: DatasetAttr, out: string[]): void {
  const c = attr.columns;
  if (attr.formatting === 'alpaca') {
    for (const column of [c.system, c.prompt, c.query, c.response, c.chosen, c.rejected]) {
      if (column !== null) stringsOf(row[column], out);
    }
    return;
  }
  const messages = c.messages === null ? undefined : row[c.messages];
  if (Array.isArray(messages)) {
    const contentKey = attr.tags.content_tag ?? 'content';
    for (const m of messages) {
      if (m !== null && typeof m === 'object') stringsOf((m as Record<string, unknown>)[contentKey], out);
    }
  }
  if (c.system !== null) stringsOf(row[c.system], out);
}

/** Every text of the sources, in order. Throws a TokenizerError naming a missing file or an unusable dataset. */
export async function readCorpus(source: CorpusSource): Promise<string[]> {
  const out: string[] = [];
  const limit = (rows: DataRow[]) => (source.maxSamples === null ? rows : rows.slice(0, source.maxSamples));
  for (const file of source.textFiles) {
    if (!existsSync(file)) throw new TokenizerError(`text file ${file} does not exist: check --text_files`);
    if (fileType(file) === undefined)
      throw new TokenizerError(`${file}: unknown file type; use .txt, .json, .jsonl, .csv or .parquet`);
    for (const row of limit((await loadDataFiles([file])).rows)) stringsOf(row, out);
  }
  if (source.datasets.length > 0) {
    for (const attr of await getDatasetList(source.datasets, source.datasetDir)) {
      if (attr.load_from !== 'file')
        throw new TokenizerError(
          `dataset "${attr.name}" is not a local file (${attr.load_from}); tokenizer training reads file_name datasets only`,
        );
      const files = listDataFiles(join(resolveDatasetDir(source.datasetDir), attr.dataset_name));
      for (const row of limit((await loadDataFiles(files)).rows)) datasetTexts(row, attr, out);
    }
  }
  if (out.length === 0)
    throw new TokenizerError('no text to read: give --text_files (comma-separated) or --dataset with --dataset_dir');
  return out;
}
