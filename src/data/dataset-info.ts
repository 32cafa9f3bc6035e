/**
 * dataset_info.json: the registry of datasets, with LLaMA-Factory's keys and defaults.
 *
 * Semantics kept from LLaMA-Factory's parser: a hub URL wins over `script_url`, which wins over `cloud_file_name`,
 * which wins over `file_name`; `ms_hub_url` is used when USE_MODELSCOPE_HUB is set or there is no `hf_hub_url`
 * (likewise `om_hub_url` with USE_OPENMIND_HUB); giving a `columns` object resets every column it does not name to
 * none (so `{"prompt": "text"}` means no query and no response), and giving a `tags` object does the same for tags.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { DatasetConfigError, UnknownDatasetError } from './errors.js';
import { parseText2SqlEntry, TEXT2SQL_KEYS, type Text2SqlAttr } from './text2sql.js';

export const DATA_CONFIG = 'dataset_info.json';

export type LoadFrom = 'hf_hub' | 'ms_hub' | 'om_hub' | 'script' | 'cloud_file' | 'file';
export type Formatting = 'alpaca' | 'sharegpt' | 'openai' | 'text2sql';

export const COLUMN_NAMES = [
  'prompt',
  'query',
  'response',
  'history',
  'messages',
  'system',
  'tools',
  'images',
  'videos',
  'audios',
  'chosen',
  'rejected',
  'kto_tag',
] as const;
export type ColumnName = (typeof COLUMN_NAMES)[number];

export const TAG_NAMES = [
  'role_tag',
  'content_tag',
  'user_tag',
  'assistant_tag',
  'observation_tag',
  'function_tag',
  'system_tag',
] as const;
export type TagName = (typeof TAG_NAMES)[number];

/** Column names in the data file for each role of the aligned record; null = not present. */
export type DatasetColumns = Record<ColumnName, string | null>;
/** Keys and values that mark roles inside sharegpt/openai messages; null = not recognised. */
export type DatasetTags = Record<TagName, string | null>;

export interface DatasetAttr {
  /** the name in dataset_info.json (what the user wrote in `dataset:`) */
  name: string;
  load_from: LoadFrom;
  /** hub repo id, script folder, cloud URL or local file/folder name, depending on `load_from` */
  dataset_name: string;
  formatting: Formatting;
  ranking: boolean;
  subset: string | null;
  split: string;
  folder: string | null;
  num_samples: number | null;
  revision: string | null;
  columns: DatasetColumns;
  tags: DatasetTags;
  /** formatting text2sql only: its columns, database folder and prompt (src/data/text2sql.ts) */
  text2sql?: Text2SqlAttr;
}

const DEFAULT_COLUMNS: DatasetColumns = {
  prompt: 'instruction',
  query: 'input',
  response: 'output',
  history: null,
  messages: 'conversations',
  system: null,
  tools: null,
  images: null,
  videos: null,
  audios: null,
  chosen: null,
  rejected: null,
  kto_tag: null,
};

const SHAREGPT_TAGS: DatasetTags = {
  role_tag: 'from',
  content_tag: 'value',
  user_tag: 'human',
  assistant_tag: 'gpt',
  observation_tag: 'observation',
  function_tag: 'function_call',
  system_tag: 'system',
};

// LLaMA-Factory gives `openai` the sharegpt defaults, so an openai file without a `tags` object fails on a missing
// `from` key; we default openai to the keys and roles the OpenAI format actually uses.
const OPENAI_TAGS: DatasetTags = {
  role_tag: 'role',
  content_tag: 'content',
  user_tag: 'user',
  assistant_tag: 'assistant',
  observation_tag: 'tool',
  function_tag: 'function_call',
  system_tag: 'system',
};

const ENTRY_KEYS = [
  'hf_hub_url',
  'ms_hub_url',
  'om_hub_url',
  'script_url',
  'cloud_file_name',
  'file_name',
  'file_sha1',
  'revision',
  'formatting',
  'ranking',
  'subset',
  'split',
  'folder',
  'num_samples',
  'columns',
  'tags',
  ...TEXT2SQL_KEYS,
] as const;

function envFlag(name: string): boolean {
  const v = (process.env[name] ?? '').toLowerCase();
  return v === '1' || v === 'true' || v === 'y' || v === 'yes';
}

/** LLaMA-Factory's `use_modelscope()`: USE_MODELSCOPE_HUB=1|true. */
export function useModelScope(): boolean {
  return envFlag('USE_MODELSCOPE_HUB');
}

/** LLaMA-Factory's `use_openmind()`: USE_OPENMIND_HUB=1|true. */
export function useOpenMind(): boolean {
  return envFlag('USE_OPENMIND_HUB');
}

/** Splits LLaMA-Factory's comma-separated list arguments (`dataset: a, b`). */
export function splitNames(names: string | readonly string[] | null | undefined): string[] {
  if (names == null) return [];
  const list = typeof names === 'string' ? names.split(',') : [...names];
  return list.map((n) => n.trim()).filter((n) => n.length > 0);
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads and parses dataset_info.json; a JSON syntax error names the line and column. */
export function readDatasetInfo(configPath: string): Record<string, JsonObject> {
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (err) {
    throw new DatasetConfigError(
      `Cannot open ${configPath}: ${(err as Error).message}. Set dataset_dir to the folder that holds ${DATA_CONFIG}.`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DatasetConfigError(`${configPath} is not valid JSON: ${describeJsonError(text, err as Error)}.`);
  }
  if (!isObject(parsed)) {
    throw new DatasetConfigError(`${configPath} must hold a JSON object mapping dataset names to their descriptions.`);
  }
  for (const [name, entry] of Object.entries(parsed)) {
    if (!isObject(entry)) {
      throw new DatasetConfigError(`${configPath}: dataset "${name}" must be an object, got ${typeName(entry)}.`);
    }
  }
  return parsed as Record<string, JsonObject>;
}

/** Turns V8's "at position N" into "line L column C" so the user can find the spot. */
export function describeJsonError(text: string, err: Error): string {
  const m = /position (\d+)/.exec(err.message);
  if (!m) return err.message;
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return `${err.message.replace(/ in JSON at position \d+.*$/, '')} at line ${line} column ${column}`;
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

function optString(where: string, entry: JsonObject, key: string): string | null {
  const v = entry[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new DatasetConfigError(`${where}: "${key}" must be a string, got ${typeName(v)}.`);
  return v;
}

function checkKeys(where: string, obj: JsonObject, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new DatasetConfigError(
        `${where}: unknown ${what} "${key}". Allowed: ${allowed.join(', ')}. Fix the spelling or remove it.`,
      );
    }
  }
}

/** Builds the typed attributes of one dataset_info.json entry. `where` names file and dataset in errors. */
export function parseDatasetEntry(name: string, entry: JsonObject, where = `${DATA_CONFIG} › ${name}`): DatasetAttr {
  checkKeys(where, entry, ENTRY_KEYS, 'key');
  const hf = optString(where, entry, 'hf_hub_url');
  const ms = optString(where, entry, 'ms_hub_url');
  const om = optString(where, entry, 'om_hub_url');
  const script = optString(where, entry, 'script_url');
  const cloud = optString(where, entry, 'cloud_file_name');
  const file = optString(where, entry, 'file_name');

  let load_from: LoadFrom;
  let dataset_name: string;
  if (hf !== null || ms !== null || om !== null) {
    if (ms !== null && (useModelScope() || hf === null)) [load_from, dataset_name] = ['ms_hub', ms];
    else if (om !== null && (useOpenMind() || hf === null)) [load_from, dataset_name] = ['om_hub', om];
    else [load_from, dataset_name] = ['hf_hub', hf as string];
  } else if (script !== null) [load_from, dataset_name] = ['script', script];
  else if (cloud !== null) [load_from, dataset_name] = ['cloud_file', cloud];
  else if (file !== null) [load_from, dataset_name] = ['file', file];
  else {
    throw new DatasetConfigError(
      `${where}: no data source. Give "file_name" (a file or folder in dataset_dir), or "hf_hub_url", ` +
        '"ms_hub_url", "om_hub_url", "script_url" or "cloud_file_name".',
    );
  }

  const formatting = optString(where, entry, 'formatting') ?? 'alpaca';
  if (formatting !== 'alpaca' && formatting !== 'sharegpt' && formatting !== 'openai' && formatting !== 'text2sql') {
    throw new DatasetConfigError(
      `${where}: "formatting" must be alpaca, sharegpt, openai or text2sql, got "${formatting}".`,
    );
  }
  if (formatting !== 'text2sql') {
    for (const key of TEXT2SQL_KEYS)
      if (entry[key] !== undefined)
        throw new DatasetConfigError(`${where}: "${key}" is for "formatting": "text2sql" only; remove it.`);
  }
  const ranking = entry.ranking ?? false;
  if (typeof ranking !== 'boolean') {
    throw new DatasetConfigError(`${where}: "ranking" must be true or false, got ${typeName(ranking)}.`);
  }
  const numSamples = entry.num_samples ?? null;
  if (numSamples !== null && !(typeof numSamples === 'number' && Number.isInteger(numSamples) && numSamples > 0)) {
    throw new DatasetConfigError(`${where}: "num_samples" must be a positive integer, got ${typeName(numSamples)}.`);
  }

  const columns: DatasetColumns = { ...DEFAULT_COLUMNS };
  if (formatting === 'openai') columns.messages = 'messages';
  let tags: DatasetTags = { ...(formatting === 'openai' ? OPENAI_TAGS : SHAREGPT_TAGS) };
  let legacyRoleTags: Partial<DatasetTags> = {};
  let text2sql: Text2SqlAttr | undefined;
  if (formatting === 'text2sql') {
    text2sql = parseText2SqlEntry(where, entry);
    for (const key of COLUMN_NAMES) columns[key] = null;
    columns.system = text2sql.columns.system;
  } else if (entry.columns !== undefined) {
    const c = entry.columns;
    if (!isObject(c)) throw new DatasetConfigError(`${where}: "columns" must be an object, got ${typeName(c)}.`);
    // Early LLaMA-Factory versions put the sharegpt role/content keys under columns; keep those files working.
    checkKeys(`${where} › columns`, c, [...COLUMN_NAMES, 'role', 'content'], 'column');
    for (const key of COLUMN_NAMES) columns[key] = optString(`${where} › columns`, c, key);
    const role = optString(`${where} › columns`, c, 'role');
    const content = optString(`${where} › columns`, c, 'content');
    if (role !== null) legacyRoleTags.role_tag = role;
    if (content !== null) legacyRoleTags.content_tag = content;
  }
  if (entry.tags !== undefined) {
    const t = entry.tags;
    if (!isObject(t)) throw new DatasetConfigError(`${where}: "tags" must be an object, got ${typeName(t)}.`);
    checkKeys(`${where} › tags`, t, TAG_NAMES, 'tag');
    tags = Object.fromEntries(TAG_NAMES.map((k) => [k, optString(`${where} › tags`, t, k)])) as DatasetTags;
    legacyRoleTags = {};
  }
  tags = { ...tags, ...legacyRoleTags };

  return {
    name,
    load_from,
    dataset_name,
    formatting,
    ranking,
    subset: optString(where, entry, 'subset'),
    split: optString(where, entry, 'split') ?? 'train',
    folder: optString(where, entry, 'folder'),
    num_samples: numSamples,
    revision: optString(where, entry, 'revision'),
    columns,
    tags,
    ...(text2sql ? { text2sql } : {}),
  };
}

/** The attributes LLaMA-Factory gives a dataset named directly on a hub (dataset_dir: ONLINE). */
export function onlineDatasetAttr(name: string): DatasetAttr {
  const load_from: LoadFrom = useModelScope() ? 'ms_hub' : useOpenMind() ? 'om_hub' : 'hf_hub';
  return { ...parseDatasetEntry(name, { hf_hub_url: name }), load_from };
}

/**
 * Resolves dataset names to attributes. `datasetDir` is a folder holding dataset_info.json, `ONLINE` (every name
 * is a hub repo id), or `REMOTE:<repo>` (dataset_info.json is fetched from that hub dataset repo by `fetchRemote`).
 */
export async function getDatasetList(
  names: string | readonly string[] | null | undefined,
  datasetDir: string,
  fetchRemote?: (repo: string, file: string) => Promise<string>,
): Promise<DatasetAttr[]> {
  const list = splitNames(names);
  if (list.length === 0) return [];
  if (datasetDir === 'ONLINE') return list.map(onlineDatasetAttr);
  let configPath: string;
  if (datasetDir.startsWith('REMOTE:')) {
    if (!fetchRemote) throw new DatasetConfigError(`dataset_dir ${datasetDir} needs a hub download function.`);
    configPath = await fetchRemote(datasetDir.slice('REMOTE:'.length), DATA_CONFIG);
  } else {
    configPath = join(resolveDatasetDir(datasetDir), DATA_CONFIG);
  }
  const info = readDatasetInfo(configPath);
  return list.map((name) => {
    const entry = info[name];
    if (entry === undefined) throw new UnknownDatasetError(name, configPath, Object.keys(info));
    return parseDatasetEntry(name, entry, `${configPath} › ${name}`);
  });
}

/** dataset_dir relative to the working directory, as LLaMA-Factory (default `data`). */
export function resolveDatasetDir(datasetDir: string): string {
  return isAbsolute(datasetDir) ? datasetDir : resolve(process.cwd(), datasetDir);
}
