/**
 * getDataset: dataset names -> dataset_info.json attributes -> files -> aligned records -> merged -> train/eval.
 * Mirrors LLaMA-Factory's loader (`_load_single_dataset`, `_get_merged_dataset`, `merge_dataset`,
 * `split_dataset`) up to, not including, tokenization: the processors consume `AlignedExample`s.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AlignedExample } from './converters.js';
import { convertRecord } from './converters.js';
import type { DatasetAttr } from './dataset-info.js';
import { getDatasetList, resolveDatasetDir, splitNames } from './dataset-info.js';
import { DatasetConfigError, DatasetFileError, InvalidDatasetError } from './errors.js';
import type { HubOptions } from './hub.js';
import { downloadHfDatasetFile, downloadHubDataset } from './hub.js';
import type { LoadedRows } from './loaders.js';
import { listDataFiles, loadDataFiles, sampleRows, truncateRows } from './loaders.js';
import type { MixStrategy } from './mix.js';
import { mergeDatasets, splitTrainVal } from './mix.js';
import { SeededRandom } from './random.js';
import { DataReport, formatIssue } from './report.js';
import { resolveSplitFiles } from './split-files.js';

/** LLaMA-Factory's training stages; rm and dpo (with orpo/simpo losses) read preference data. */
export type Stage = 'pt' | 'sft' | 'rm' | 'ppo' | 'dpo' | 'kto';

/** The data arguments of LLaMA-Factory (same names and defaults) that loading and aligning use. */
export interface DatasetArgs {
  dataset?: string | readonly string[] | null;
  eval_dataset?: string | readonly string[] | null;
  /** folder with dataset_info.json, `ONLINE`, or `REMOTE:<hf dataset repo>`; default `data` */
  dataset_dir?: string;
  /** where relative image/video/audio paths resolve; default dataset_dir */
  media_dir?: string | null;
  mix_strategy?: MixStrategy;
  /** comma-separated or a list, one per dataset; only with interleave_* */
  interleave_probs?: string | readonly number[] | null;
  /** fraction in (0, 1) or an integer count of held-out examples; 0 = none */
  val_size?: number;
  max_samples?: number | null;
  streaming?: boolean;
  /** training seed (sampling, interleaving, splitting); default 42 */
  seed?: number;
  cache_dir?: string | null;
  hf_hub_token?: string | null;
  ms_hub_token?: string | null;
  /** how long a hub host may stay silent before the download fails (ms) */
  hub_timeout_ms?: number;
}

export interface DatasetModule {
  train_dataset: AlignedExample[] | null;
  /** merged eval set: the held-out `val_size` part, or the `eval_dataset` datasets concatenated/mixed */
  eval_dataset: AlignedExample[] | null;
  /** each `eval_dataset` by name (LLaMA-Factory keeps them apart for do_predict) */
  eval_datasets: Record<string, AlignedExample[]> | null;
  report: DataReport;
}

export interface GetDatasetOptions {
  /** where the first few issues and the dropped counts are printed; default console.warn */
  log?: (message: string) => void;
  /** how many issues to print per dataset; default 5 */
  issueLimit?: number;
}

const PREFERENCE_STAGES: readonly Stage[] = ['rm', 'dpo'];

/** LLaMA-Factory's DataArguments checks, with messages that say what to change. */
export function checkDataArgs(args: DatasetArgs): void {
  const strategy = args.mix_strategy ?? 'concat';
  if (!['concat', 'interleave_under', 'interleave_over'].includes(strategy)) {
    throw new DatasetConfigError(
      `Unknown mix_strategy "${strategy}": use concat, interleave_under or interleave_over.`,
    );
  }
  if (args.streaming) {
    throw new DatasetConfigError(
      'streaming is not supported by lmforge: remove `streaming: true` (data loads in memory).',
    );
  }
  const probs = parseProbs(args.interleave_probs);
  if (probs !== null) {
    if (strategy === 'concat') {
      throw new DatasetConfigError(
        '`interleave_probs` is only valid for interleaved mixing: set mix_strategy to interleave_under or interleave_over.',
      );
    }
    const n = splitNames(args.dataset).length;
    if (probs.length !== n) {
      throw new DatasetConfigError(
        `interleave_probs has ${probs.length} values but dataset names ${n}: give one per dataset.`,
      );
    }
    if (probs.some((p) => !(p >= 0)) || Math.abs(probs.reduce((a, b) => a + b, 0) - 1) > 1e-6) {
      throw new DatasetConfigError(`interleave_probs ${probs.join(',')} must be non-negative and sum to 1.`);
    }
  }
  const val = args.val_size ?? 0;
  if (!(val >= 0) || val === 1 || (val > 1 && !Number.isInteger(val))) {
    throw new DatasetConfigError(`val_size ${val} must be a fraction in (0, 1) or a whole number of examples.`);
  }
  if (val > 1e-6 && splitNames(args.eval_dataset).length > 0) {
    throw new DatasetConfigError('Cannot specify `val_size` if `eval_dataset` is given: remove one of them.');
  }
  if (val > 1e-6 && splitNames(args.dataset).length === 0) {
    throw new DatasetConfigError('`val_size` needs a training `dataset` to split.');
  }
  if (args.max_samples != null && !(Number.isInteger(args.max_samples) && args.max_samples > 0)) {
    throw new DatasetConfigError(`max_samples ${args.max_samples} must be a positive integer.`);
  }
}

function parseProbs(p: string | readonly number[] | null | undefined): number[] | null {
  if (p == null) return null;
  const list = typeof p === 'string' ? p.split(',').map((s) => Number(s.trim())) : [...p];
  return list.length === 0 ? null : list;
}

/** LLaMA-Factory's stage <-> dataset kind rule, plus: KTO needs a kto_tag column. */
export function checkStageFits(attr: DatasetAttr, stage: Stage): void {
  const wantsPairs = PREFERENCE_STAGES.includes(stage);
  if (wantsPairs && !attr.ranking) {
    throw new InvalidDatasetError(
      `Dataset "${attr.name}" is not applicable in the ${stage} stage: it needs a preference dataset ` +
        '("ranking": true with chosen/rejected columns in dataset_info.json).',
    );
  }
  if (!wantsPairs && attr.ranking) {
    throw new InvalidDatasetError(
      `Dataset "${attr.name}" is a preference dataset ("ranking": true) and is not applicable in the ${stage} ` +
        'stage; use it with stage rm or dpo, or pick a non-ranking dataset.',
    );
  }
  if (stage === 'kto' && attr.columns.kto_tag === null) {
    throw new InvalidDatasetError(
      `Dataset "${attr.name}" has no kto_tag column, which the kto stage needs: set columns.kto_tag in dataset_info.json.`,
    );
  }
}

/** The per-record shape the stage's processor accepts (LLaMA-Factory drops the rest there). */
export function stageShapeViolation(example: AlignedExample, stage: Stage): string | null {
  const p = example._prompt.length;
  const r = example._response.length;
  switch (stage) {
    case 'pt':
      return p === 0 ? 'pretraining needs a text (set columns.prompt to the text column)' : null;
    case 'sft':
      if (p % 2 !== 1) return `sft needs an odd number of prompt messages, got ${p}`;
      return r === 1 ? null : `sft needs exactly one response, got ${r} (is the response column set and filled?)`;
    case 'rm':
    case 'dpo':
    case 'kto':
      if (p % 2 !== 1) return `${stage} needs an odd number of prompt messages, got ${p}`;
      return r >= 2 ? null : `${stage} needs two responses, got ${r}`;
    case 'ppo':
      return p % 2 === 1 ? null : `ppo needs an odd number of prompt messages, got ${p}`;
  }
}

async function loadRows(attr: DatasetAttr, args: DatasetArgs, rng: SeededRandom): Promise<LoadedRows> {
  const datasetDir = resolveDatasetDir(args.dataset_dir ?? 'data');
  let files: string[];
  const hub: HubOptions = {
    cacheDir: args.cache_dir ?? null,
    hfToken: args.hf_hub_token ?? null,
    msToken: args.ms_hub_token ?? null,
    ...(args.hub_timeout_ms !== undefined ? { timeoutMs: args.hub_timeout_ms } : {}),
  };
  switch (attr.load_from) {
    case 'file':
      files = listDataFiles(join(datasetDir, attr.dataset_name));
      break;
    case 'script': {
      const dir = join(datasetDir, attr.dataset_name);
      if (!existsSync(dir)) throw new DatasetFileError(dir, `script_url folder of dataset "${attr.name}" not found.`);
      if (readdirSync(dir).some((f) => f.endsWith('.py'))) {
        throw new DatasetFileError(
          dir,
          'Python dataset loading scripts cannot run in lmforge. Export the data to json/jsonl/csv/parquet and ' +
            'use "file_name" instead.',
        );
      }
      files = resolveSplitFiles(dir, attr);
      break;
    }
    case 'cloud_file':
      throw new DatasetFileError(
        attr.dataset_name,
        `dataset "${attr.name}" uses cloud_file_name, which lmforge cannot fetch. Download the file and use "file_name".`,
      );
    default:
      files = await downloadHubDataset(attr, hub);
  }
  let rows = await loadDataFiles(files);
  if (attr.num_samples !== null) rows = sampleRows(rows, attr.num_samples, rng);
  if (args.max_samples != null) rows = truncateRows(rows, args.max_samples);
  return rows;
}

/**
 * A column the format needs that no record has is a mapping mistake in dataset_info.json, not bad records: say
 * which column, which keys the records do have, and how to map them (LLaMA-Factory fails here with a KeyError).
 */
export function checkColumnsPresent(loaded: LoadedRows, attr: DatasetAttr, stage: Stage | undefined): void {
  if (loaded.rows.length === 0) return;
  const c = attr.columns;
  const needed: [string, string | null][] = [];
  if (attr.text2sql) {
    const t = attr.text2sql.columns;
    needed.push(['question', t.question], ['db_id', t.db_id ?? t.schema]);
    if (stage !== undefined && stage !== 'pt') needed.push(['sql', t.sql]);
  } else if (attr.formatting === 'alpaca') {
    needed.push(['prompt', c.prompt]);
    if (attr.ranking) needed.push(['chosen', c.chosen], ['rejected', c.rejected]);
    else if (stage !== undefined && stage !== 'pt') needed.push(['response', c.response]);
  } else {
    needed.push(['messages', c.messages]);
    if (attr.ranking) needed.push(['chosen', c.chosen], ['rejected', c.rejected]);
  }
  if (c.kto_tag !== null) needed.push(['kto_tag', c.kto_tag]);
  for (const [role, column] of needed) {
    if (column === null) {
      if (role === 'prompt' || role === 'messages') {
        throw new DatasetConfigError(
          `Dataset "${attr.name}": columns.${role} is not set; name the column that holds it.`,
        );
      }
      continue; // chosen/rejected/response unset: the converter reports each record
    }
    if (loaded.rows.some((r) => r[column] !== undefined)) continue;
    const keys = [...new Set(loaded.rows.slice(0, 50).flatMap((r) => Object.keys(r)))];
    const files = [...new Set(loaded.origins.map((o) => o.file))].slice(0, 3).join(', ');
    throw new InvalidDatasetError(
      `Dataset "${attr.name}": no record of ${files} has the column "${column}" (columns.${role}). ` +
        `The records have: ${keys.join(', ') || '(no keys)'}. Map the right one in dataset_info.json, e.g. ` +
        `"columns": {"${role}": "${keys[0] ?? role}"}${attr.formatting === 'alpaca' ? '' : ', or check "formatting"'}.`,
    );
  }
}

/**
 * Aligns loaded records, dropping (and reporting) each record that breaks its format's rules or the stage's
 * shape. A dataset with no valid record stops with the first reason.
 */
export function alignDataset(
  loaded: LoadedRows,
  attr: DatasetAttr,
  report: DataReport,
  opts: { mediaDir: string; stage?: Stage | undefined },
): AlignedExample[] {
  checkColumnsPresent(loaded, attr, opts.stage);
  const out: AlignedExample[] = [];
  const firstIssue = report.issues.length;
  loaded.rows.forEach((row, i) => {
    const origin = loaded.origins[i] as { file: string; index: number };
    const result = convertRecord(row, attr, { mediaDir: opts.mediaDir });
    let issue: { field: string; rule: string } | null = null;
    if (!result.ok) issue = { field: result.field, rule: result.rule };
    else if (opts.stage !== undefined) {
      const rule = stageShapeViolation(result.example, opts.stage);
      if (rule !== null) issue = { field: '(record)', rule };
    }
    if (issue !== null) {
      report.add({ dataset: attr.name, file: origin.file, index: origin.index, ...issue });
      report.noteDropped(attr.name);
    } else if (result.ok) out.push(result.example);
  });
  if (out.length === 0) {
    const first = report.issues[firstIssue];
    throw new InvalidDatasetError(
      first
        ? `Dataset "${attr.name}" has no valid record (${loaded.rows.length} checked). First problem: ${formatIssue(first)}. ` +
            'See the dataset format in the docs (alpaca / sharegpt / openai) and dataset_info.json columns/tags.'
        : `Dataset "${attr.name}" is empty: its files hold no records.`,
    );
  }
  return out;
}

async function getMerged(
  names: string[],
  args: DatasetArgs,
  stage: Stage,
  report: DataReport,
  rng: SeededRandom,
  options: GetDatasetOptions,
): Promise<Record<string, AlignedExample[]>> {
  const datasetDir = args.dataset_dir ?? 'data';
  const attrs = await getDatasetList(names, datasetDir, (repo, file) =>
    downloadHfDatasetFile(repo, file, { cacheDir: args.cache_dir ?? null, hfToken: args.hf_hub_token ?? null }),
  );
  const mediaDir = resolveDatasetDir(args.media_dir ?? datasetDir);
  const out: Record<string, AlignedExample[]> = {};
  for (const attr of attrs) {
    checkStageFits(attr, stage);
    const rows = await loadRows(attr, args, rng);
    const before = report.issues.length;
    out[attr.name] = alignDataset(rows, attr, report, { mediaDir, stage });
    // each dropped record has exactly one issue, so this dataset's new issues are its drops
    const mine = new DataReport();
    const fresh = report.issues.slice(before);
    for (const issue of fresh) mine.add(issue);
    if (fresh.length > 0) mine.dropped.set(attr.name, fresh.length);
    const text = mine.summary(options.issueLimit ?? 5);
    if (text) (options.log ?? console.warn)(text);
  }
  return out;
}

/** Loads, aligns, mixes and splits the train (and eval) datasets of `args` for `stage`. */
export async function getDataset(
  args: DatasetArgs,
  stage: Stage,
  options: GetDatasetOptions = {},
): Promise<DatasetModule> {
  checkDataArgs(args);
  const seed = args.seed ?? 42;
  const report = new DataReport();
  const rng = new SeededRandom(seed);
  const strategy = args.mix_strategy ?? 'concat';
  const probs = parseProbs(args.interleave_probs);

  const trainNames = splitNames(args.dataset);
  const evalNames = splitNames(args.eval_dataset);
  let train: AlignedExample[] | null = null;
  if (trainNames.length > 0) {
    const parts = await getMerged(trainNames, args, stage, report, rng, options);
    train = mergeDatasets(Object.values(parts), strategy, probs, seed);
  }
  let evalSet: AlignedExample[] | null = null;
  let evalByName: Record<string, AlignedExample[]> | null = null;
  if (evalNames.length > 0) {
    evalByName = await getMerged(evalNames, args, stage, report, rng, options);
    // eval_dataset has no probabilities of its own: interleaving falls back to round robin
    evalSet = mergeDatasets(Object.values(evalByName), strategy, null, seed);
  }
  const val = args.val_size ?? 0;
  if (train !== null && val > 1e-6) {
    const { train: t, validation } = splitTrainVal(train, val, seed);
    train = t;
    evalSet = validation;
  }
  return { train_dataset: train, eval_dataset: evalSet, eval_datasets: evalByName, report };
}
