/**
 * getTokenizedDataset = getDataset + the stage's processor (LLaMA-Factory's get_dataset after alignment):
 * tokenization in worker threads, an on-disk cache, and tokenized_path to save/load explicitly.
 *
 * Cache: `<cache_dir>/tokenized-<key>/{train,eval}.lmft` (token-store format), cache_dir defaulting to
 * `~/.cache/lmforge/datasets` (LMFORGE_CACHE_DIR overrides). The key hashes the aligned examples themselves (so
 * any change to data files, dataset_info, sampling or splitting changes it), the tokenizer files and its special
 * ids, the template (name, system, thinking, EOS), the stage and every argument that changes tokens.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { writeFileAtomic } from '../io/atomic.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { pushAll } from '../util/arrays.js';
import { siblingWorker } from '../util/sibling-worker.js';
import type { AlignedExample } from './converters.js';
import { type DatasetArgs, type DatasetModule, getDataset, type Stage } from './dataset.js';
import { fingerprintOf, type ShardJob, type ShardResult, type TemplateRecipe } from './preprocess-shard.js';
import { createProcessor, processRange } from './processors/index.js';
import {
  type DroppedExample,
  type ProcessorArgs,
  type ProcessorKind,
  processorKindFor,
  type ResolvedProcessorArgs,
  resolveProcessorArgs,
  type TokenizedRecord,
} from './processors/types.js';
import { registeredTemplate } from './template/registry.js';
import type { Template } from './template/template.js';
import type { Text2SqlMeta } from './text2sql.js';
import { decodeRecords, readRecords, TokenStoreError, writeRecords } from './token-store.js';

export interface PreprocessArgs extends DatasetArgs, ProcessorArgs {
  /** worker threads for tokenization; default 1 (in-thread) */
  preprocessing_num_workers?: number | null;
  /** rebuild the cache entry even when one exists */
  overwrite_cache?: boolean;
  /** folder to load tokenized data from when it exists, else to save it to */
  tokenized_path?: string | null;
}

export interface SplitStats {
  /** aligned examples given to the processor */
  examples: number;
  /** records produced (packed rows count once) */
  records: number;
  dropped: DroppedExample[];
  truncated: number;
}

export interface TokenizedDatasetModule {
  train_dataset: TokenizedRecord[] | null;
  eval_dataset: TokenizedRecord[] | null;
  /** text2sql eval sets tokenized for generation: each eval record's database (null for other records) */
  eval_sql?: (Text2SqlMeta | null)[];
  stats: { train: SplitStats | null; eval: SplitStats | null };
  /** where the records came from */
  source: 'built' | 'cache' | 'tokenized_path';
  /** the cache folder used (null when caching is off or tokenized_path was loaded) */
  cachePath: string | null;
}

export interface TokenizeOptions {
  log?: (message: string) => void;
  /** false: neither read nor write the cache (previews) */
  cache?: boolean;
  /** the aligned data, when the caller already loaded it */
  dataset?: DatasetModule;
}

const FORMAT_VERSION = 1;

export function defaultCacheDir(): string {
  return process.env.LMFORGE_CACHE_DIR ?? join(homedir(), '.cache', 'lmforge', 'datasets');
}

function templateRecipe(template: Template): TemplateRecipe {
  return {
    name: registeredTemplate(template.name) !== undefined ? template.name : null,
    enableThinking: template.enableThinking,
    defaultSystem: template.defaultSystem,
  };
}

function tokenizerFilesHash(dir: string): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(dir).sort()) {
    if (
      !/^(tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|chat_template\.(jinja|json)|.*\.model)$/.test(
        name,
      )
    ) {
      continue;
    }
    hash.update(name).update(readFileSync(join(dir, name)));
  }
  return hash.digest('hex');
}

function cacheKey(
  stage: Stage,
  args: ResolvedProcessorArgs,
  kinds: [ProcessorKind, ProcessorKind],
  tokenizer: Tokenizer,
  template: Template,
  data: DatasetModule,
): string {
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({
      version: FORMAT_VERSION,
      stage,
      kinds,
      args,
      tokenizer: { files: tokenizerFilesHash(tokenizer.dir), ...fingerprintOf(tokenizer) },
      template: { ...templateRecipe(template), realName: template.name, efficientEos: template.efficientEos },
    }),
  );
  hash.update(JSON.stringify(data.train_dataset)).update('\0').update(JSON.stringify(data.eval_dataset));
  return hash.digest('hex').slice(0, 32);
}

/** Whole batches per shard, so sharding never moves a batch border. */
function shardRanges(count: number, batchSize: number, workers: number): Array<[number, number]> {
  const batches = Math.ceil(count / batchSize);
  const per = Math.ceil(batches / Math.max(1, Math.min(workers, batches)));
  const ranges: Array<[number, number]> = [];
  for (let b = 0; b < batches; b += per) ranges.push([b * batchSize, Math.min((b + per) * batchSize, count)]);
  return ranges;
}

function runWorker(job: ShardJob, started: Worker[]): Promise<ShardResult> {
  return new Promise((resolve, reject) => {
    const worker = siblingWorker('preprocess-worker', import.meta.url, { workerData: job });
    started.push(worker);
    let result: ShardResult | null = null;
    worker.once('message', (m: ShardResult) => {
      result = m;
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (result !== null) resolve(result);
      else reject(new Error(`tokenization worker exited with code ${code} before sending its records`));
    });
  });
}

/** Tokenizes one split, in-thread or across workers; the records are identical either way. */
export async function tokenizeExamples(
  examples: AlignedExample[],
  kind: ProcessorKind,
  args: ResolvedProcessorArgs,
  tokenizer: Tokenizer,
  template: Template,
  workers = 1,
): Promise<{ records: TokenizedRecord[]; stats: SplitStats }> {
  const base = {
    tokenizerDir: tokenizer.dir,
    recipe: templateRecipe(template),
    fingerprint: fingerprintOf(tokenizer),
    kind,
    args,
  };
  const ranges = shardRanges(examples.length, args.batchSize, workers);
  if (workers <= 1 || ranges.length <= 1) {
    const processor = createProcessor(kind, { tokenizer, template, args });
    const out = await processRange(processor, examples, args.batchSize);
    return {
      records: out.records,
      stats: { examples: examples.length, records: out.records.length, dropped: out.dropped, truncated: out.truncated },
    };
  }
  const started: Worker[] = [];
  let results: ShardResult[];
  try {
    results = await Promise.all(
      ranges.map(([start, end]) =>
        runWorker({ ...base, examples: examples.slice(start, end), offset: start }, started),
      ),
    );
  } catch (e) {
    // One failed shard fails the whole split: stop the others instead of letting them run on.
    await Promise.all(started.map((w) => w.terminate()));
    throw e;
  }
  const records: TokenizedRecord[] = [];
  const dropped: DroppedExample[] = [];
  let truncated = 0;
  for (const r of results) {
    for (const record of decodeRecords(r.bytes).records) records.push(record);
    pushAll(dropped, r.dropped);
    truncated += r.truncated;
  }
  return { records, stats: { examples: examples.length, records: records.length, dropped, truncated } };
}

function reportDropped(split: string, stats: SplitStats, log: (m: string) => void): void {
  if (stats.dropped.length === 0) return;
  for (const d of stats.dropped.slice(0, 5)) log(d.reason);
  log(`${split}: dropped ${stats.dropped.length} of ${stats.examples} example(s)`);
}

/** The databases of the eval examples that became records (generation keeps one record per kept example). */
function evalSqlOf(examples: readonly AlignedExample[], stats: SplitStats): (Text2SqlMeta | null)[] | undefined {
  if (!examples.some((e) => e._sql)) return undefined;
  const dropped = new Set(stats.dropped.map((d) => d.index));
  return examples.filter((_, i) => !dropped.has(i)).map((e) => e._sql ?? null);
}

function saveSplits(dir: string, module: Omit<TokenizedDatasetModule, 'source' | 'cachePath'>): void {
  mkdirSync(dir, { recursive: true });
  if (module.train_dataset) writeRecords(join(dir, 'train.lmft'), module.train_dataset);
  if (module.eval_dataset)
    writeRecords(join(dir, 'eval.lmft'), module.eval_dataset, module.eval_sql ? { eval_sql: module.eval_sql } : {});
  writeFileAtomic(
    join(dir, 'meta.json'),
    `${JSON.stringify({ version: FORMAT_VERSION, stats: module.stats }, null, 1)}\n`,
  );
}

function loadSplits(dir: string): Omit<TokenizedDatasetModule, 'source' | 'cachePath'> {
  const metaPath = join(dir, 'meta.json');
  if (!existsSync(metaPath))
    throw new TokenStoreError(`${dir} has no meta.json: it is not an lmforge tokenized dataset`);
  const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as {
    version: number;
    stats: TokenizedDatasetModule['stats'];
  };
  if (meta.version !== FORMAT_VERSION) {
    throw new TokenStoreError(
      `${dir} holds tokenized data of format ${meta.version}; this lmforge writes ${FORMAT_VERSION}: rebuild it`,
    );
  }
  const load = (name: string) => (existsSync(join(dir, name)) ? readRecords(join(dir, name)) : null);
  const evalSplit = load('eval.lmft');
  const evalSql = evalSplit?.meta.eval_sql as (Text2SqlMeta | null)[] | undefined;
  return {
    train_dataset: load('train.lmft')?.records ?? null,
    eval_dataset: evalSplit?.records ?? null,
    ...(evalSql ? { eval_sql: evalSql } : {}),
    stats: meta.stats,
  };
}

/**
 * Aligned datasets of `args` tokenized for `stage` with the tokenizer and template that getTemplate returned.
 * `tokenized_path` that exists is loaded as is (the other data arguments are ignored, as upstream).
 */
export async function getTokenizedDataset(
  args: PreprocessArgs,
  stage: Stage,
  tokenizer: Tokenizer,
  template: Template,
  options: TokenizeOptions = {},
): Promise<TokenizedDatasetModule> {
  const log = options.log ?? ((m: string) => console.warn(`[lmforge] ${m}`));
  if (args.tokenized_path && existsSync(join(args.tokenized_path, 'meta.json'))) {
    log('Loading dataset from disk will ignore other data arguments.');
    const loaded = loadSplits(args.tokenized_path);
    log(`Loaded tokenized dataset from ${args.tokenized_path}.`);
    return { ...loaded, source: 'tokenized_path', cachePath: null };
  }
  if (args.tokenized_path && existsSync(args.tokenized_path) && readdirSync(args.tokenized_path).length > 0) {
    throw new TokenStoreError(
      `tokenized_path ${args.tokenized_path} holds files but no meta.json: it is not an lmforge tokenized dataset. ` +
        'Point tokenized_path at an empty or new folder.',
    );
  }
  const resolved = resolveProcessorArgs(args, stage);
  const kinds: [ProcessorKind, ProcessorKind] = [
    processorKindFor(stage, resolved),
    processorKindFor(stage, resolved, args.predict_with_generate ?? false),
  ];
  const data = options.dataset ?? (await getDataset(args, stage, { log }));
  const useCache = options.cache ?? true;
  const cachePath = useCache
    ? join(
        args.cache_dir ?? defaultCacheDir(),
        `tokenized-${cacheKey(stage, resolved, kinds, tokenizer, template, data)}`,
      )
    : null;

  let module: Omit<TokenizedDatasetModule, 'source' | 'cachePath'> | null = null;
  let source: TokenizedDatasetModule['source'] = 'built';
  if (cachePath !== null && !args.overwrite_cache && existsSync(join(cachePath, 'meta.json'))) {
    try {
      module = loadSplits(cachePath);
      source = 'cache';
      log(`Loaded tokenized dataset from cache ${cachePath}.`);
    } catch (e) {
      log(`Ignoring an unreadable cache entry (${(e as Error).message}); rebuilding it.`);
    }
  }
  if (module === null) {
    const workers = Math.max(1, args.preprocessing_num_workers ?? 1);
    const train = data.train_dataset
      ? await tokenizeExamples(data.train_dataset, kinds[0], resolved, tokenizer, template, workers)
      : null;
    const evalSplit = data.eval_dataset
      ? await tokenizeExamples(data.eval_dataset, kinds[1], resolved, tokenizer, template, workers)
      : null;
    if (train && kinds[0] === 'feedback') {
      const desirable = train.records.filter((r) => (r as { kto_tags: boolean }).kto_tags).length;
      if (desirable === 0 || desirable === train.records.length) log('Your dataset only has one preference type.');
    }
    if (train) reportDropped('train', train.stats, log);
    if (evalSplit) reportDropped('eval', evalSplit.stats, log);
    if (train && train.records.length === 0) {
      const error = new Error(
        stage === 'pt'
          ? 'Cannot find sufficient samples, consider increasing dataset size (or lowering cutoff_len).'
          : 'Cannot find valid samples, check the data format described in examples/data/README.md.',
      );
      (error as Error & { userFacing: boolean }).userFacing = true;
      throw error;
    }
    const evalSql =
      evalSplit && kinds[1] === 'unsupervised' && data.eval_dataset
        ? evalSqlOf(data.eval_dataset, evalSplit.stats)
        : undefined;
    module = {
      train_dataset: train?.records ?? null,
      eval_dataset: evalSplit?.records ?? null,
      ...(evalSql ? { eval_sql: evalSql } : {}),
      stats: { train: train?.stats ?? null, eval: evalSplit?.stats ?? null },
    };
    if (cachePath !== null) saveSplits(cachePath, module);
  }
  if (args.tokenized_path) {
    saveSplits(args.tokenized_path, module);
    log(`Tokenized dataset is saved at ${args.tokenized_path}; later runs with tokenized_path load it directly.`);
  }
  return { ...module, source, cachePath };
}
