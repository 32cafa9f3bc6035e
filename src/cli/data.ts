/**
 * `lmforge data preview|stats`: what the model will be trained on, record by record (trained vs masked tokens),
 * and the token statistics of a dataset under a template and tokenizer.
 */

import { existsSync } from 'node:fs';
import type { AlignedExample } from '../data/converters.js';
import { type DatasetArgs, getDataset, type Stage } from '../data/dataset.js';
import { getTokenizedDataset } from '../data/preprocess.js';
import {
  createProcessor,
  IGNORE_INDEX,
  type ProcessorArgs,
  processorKindFor,
  resolveProcessorArgs,
  type TokenizedRecord,
} from '../data/processors/index.js';
import { getTemplate } from '../data/template/index.js';
import type { Template } from '../data/template/template.js';
import { DATA_GROUPS, parseCommandArgs, type TypedArgs } from '../hparams/index.js';
import type { ChatMessage } from '../tokenizer/chat-template.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { maxOf } from '../util/arrays.js';
import { lengthHistogram } from './length-histogram.js';

function userError(message: string): Error {
  return Object.assign(new Error(message), { userFacing: true });
}

/** `lmforge data preview|stats`'s arguments, read like every command's (YAML, key=value, --key value). */
export function parseDataArgs(argv: readonly string[]) {
  return parseCommandArgs(argv, DATA_GROUPS, { command: 'data' });
}

interface Common {
  stage: Stage;
  dataArgs: DatasetArgs & ProcessorArgs;
  tokenizer: Tokenizer;
  template: Template;
  /** the tokenizer's own chat template, before getTemplate may set one */
  ownChatTemplate: string | null;
  warnings: string[];
}

function setup(typed: TypedArgs): Common {
  const model = typed.groups.model as Record<string, unknown>;
  const data = typed.groups.data as Record<string, unknown>;
  const ft = typed.groups.finetuning as Record<string, unknown>;
  const modelDir = model.model_name_or_path as string | null;
  if (!modelDir) {
    throw userError(
      '--model_name_or_path (or --model) is required: the folder with tokenizer.json (a model or tokenizer folder)',
    );
  }
  const datasets = data.dataset as string[] | null;
  if (!datasets || datasets.length === 0)
    throw userError('--dataset is required: a name from <dataset_dir>/dataset_info.json');
  const datasetDir = data.dataset_dir as string;
  if (!existsSync(datasetDir) && !/^(ONLINE|REMOTE:)/.test(datasetDir)) {
    throw userError(`dataset_dir "${datasetDir}" does not exist; pass --dataset_dir (e.g. examples/data)`);
  }
  // stage orpo is the dpo stage's data (LLaMA-Factory 0.6's name)
  const stage = (ft.stage === 'orpo' ? 'dpo' : ft.stage) as Stage;
  const tokenizer = Tokenizer.fromDir(modelDir);
  const ownChatTemplate = tokenizer.chatTemplate;
  const warnings: string[] = [];
  const template = getTemplate(data.template as string | null, tokenizer, {
    trainOnPrompt: data.train_on_prompt as boolean,
    log: (level, message) => {
      if (level === 'warning') warnings.push(message);
    },
  });
  const dataArgs: DatasetArgs & ProcessorArgs = {
    dataset: datasets,
    dataset_dir: datasetDir,
    cutoff_len: atLeast('cutoff_len', data.cutoff_len as number, 1),
    train_on_prompt: data.train_on_prompt as boolean,
    mask_history: data.mask_history as boolean,
    max_samples: data.max_samples === null ? null : atLeast('max_samples', data.max_samples as number, 1),
    template: (data.template as string | null) ?? null,
  };
  return { stage, dataArgs, tokenizer, template, ownChatTemplate, warnings };
}

function atLeast(name: string, n: number, min: number): number {
  if (n < min) throw userError(`--${name} must be an integer >= ${min}, got ${n}`);
  return n;
}

// ---- rendering ----------------------------------------------------------------------------------------------

const GREEN = '\x1b[32m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/** The token ids as text, trained spans (label != IGNORE_INDEX) marked: colour on a TTY, [[...]] otherwise. */
export function renderSpans(tokenizer: Tokenizer, inputIds: number[], labels: number[], colour: boolean): string {
  let out = '';
  let start = 0;
  while (start < inputIds.length) {
    const trained = labels[start] !== IGNORE_INDEX;
    let end = start + 1;
    while (end < inputIds.length && (labels[end] !== IGNORE_INDEX) === trained) end++;
    const text = tokenizer.decode(inputIds.slice(start, end));
    if (colour) out += `${trained ? GREEN : DIM}${text}${RESET}`;
    else out += trained ? `[[${text}]]` : text;
    start = end;
  }
  return out;
}

/** The (prefix, input_ids, labels) views of a record: one for sft/pt, chosen + rejected, target + KL. */
function views(record: TokenizedRecord): Array<{ name: string; ids: number[]; labels: number[] }> {
  const r = record as unknown as Record<string, number[] | undefined>;
  const out: Array<{ name: string; ids: number[]; labels: number[] }> = [];
  for (const prefix of ['', 'chosen_', 'rejected_', 'kl_']) {
    const ids = r[`${prefix}input_ids`];
    const labels = r[`${prefix}labels`];
    if (ids && labels) out.push({ name: prefix.replace(/_$/, '') || 'sequence', ids, labels });
  }
  return out;
}

function firstDifference(a: number[], b: number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Compares our ids with the tokenizer's own jinja template for one sft example; a warning when they differ. */
async function jinjaMismatch(
  common: Common,
  example: AlignedExample,
  ids: number[],
  index: number,
): Promise<string | null> {
  const { tokenizer, template, ownChatTemplate } = common;
  if (ownChatTemplate === null || example._tools) return null;
  const messages: ChatMessage[] = [...example._prompt, ...example._response].map((m) => ({
    role: m.role === 'observation' ? 'tool' : m.role,
    content: m.content,
  }));
  if (example._system) messages.unshift({ role: 'system', content: example._system });
  let theirs: number[];
  try {
    theirs = await tokenizer.applyChatTemplate(messages, { tokenize: true, chatTemplate: ownChatTemplate });
  } catch (e) {
    return `the tokenizer's chat template cannot render record ${index}: ${(e as Error).message}`;
  }
  if (theirs.length === ids.length && firstDifference(theirs, ids) === ids.length) return null;
  const at = firstDifference(theirs, ids);
  const show = (xs: number[]) => JSON.stringify(tokenizer.decode(xs.slice(at, at + 8)));
  return (
    `template "${template.name}" disagrees with the tokenizer's own chat template on record ${index} ` +
    `(first difference at token ${at}: ours ${show(ids)}, the tokenizer's ${show(theirs)}); ` +
    'check that --template matches the model'
  );
}

/** How every lmforge command reads its arguments, said once for both subcommands' help. */
const SPELLING = `A training YAML may come first (its other keys are skipped); key=value works as --key value; booleans take
--flag or --flag true|false|True|False|1|0. Any model/data argument of lmforge train -h is accepted.`;

const HELP_PREVIEW = `Usage: lmforge data preview [config.yaml] --dataset NAME --model_name_or_path DIR [options]

Shows records as the model will see them: trained tokens ${'[[like this]]'} (green on a terminal), masked ones plain.
  --dataset NAME        dataset name(s) from dataset_info.json (comma-separated)
  --dataset_dir DIR     folder with dataset_info.json (default data)
  --model_name_or_path DIR  folder with the tokenizer (tokenizer.json, tokenizer_config.json); --model for short
  --template NAME       chat template (default: parsed from the tokenizer's chat template)
  --stage STAGE         pt, sft (default), rm, dpo, kto, ppo
  --index N --count N   records to show (default 0 and 1)
  --cutoff_len N        token budget (default 2048)
  --train_on_prompt     train on prompts too
  --mask_history        train on the last turn only
  --json                print [{index, input_ids, labels, text}] instead

${SPELLING}`;

async function preview(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(HELP_PREVIEW);
    return 0;
  }
  const typed = parseDataArgs(argv);
  const inspect = typed.groups.inspect as { index: number; count: number; json: boolean };
  const common = setup(typed);
  const { stage, tokenizer, template } = common;
  const index = atLeast('index', inspect.index, 0);
  const count = atLeast('count', inspect.count, 1);
  const data = await getDataset(common.dataArgs, stage, { log: (m) => common.warnings.push(m) });
  const all = data.train_dataset ?? [];
  if (index >= all.length) throw userError(`--index ${index} is past the end: the dataset has ${all.length} record(s)`);
  const examples = all.slice(index, index + count);
  const resolved = {
    ...resolveProcessorArgs({ ...common.dataArgs, packing: false }, stage),
    batchSize: examples.length,
  };
  const kind = processorKindFor(stage, resolved);
  const processor = createProcessor(kind, { tokenizer, template, args: resolved });
  const full = createProcessor(kind, { tokenizer, template, args: { ...resolved, cutoffLen: 2 ** 31 - 1 } });
  const records: Array<{ index: number; record: TokenizedRecord; untruncated: TokenizedRecord | null }> = [];
  for (let i = 0; i < examples.length; i++) {
    const out = await processor.processBatch([examples[i]!], index + i);
    const whole = await full.processBatch([examples[i]!], index + i);
    for (const d of out.dropped) common.warnings.push(d.reason);
    if (out.records[0])
      records.push({ index: index + i, record: out.records[0], untruncated: whole.records[0] ?? null });
  }
  if (common.ownChatTemplate === null && template.name !== 'empty') {
    common.warnings.push(
      `the tokenizer has no chat template (a base model?) but template "${template.name}" adds chat markup; ` +
        'use --template empty or default for a base model, or a chat model',
    );
  }
  if (stage === 'sft') {
    for (const { index: i, untruncated } of records) {
      if (untruncated === null) continue;
      const mismatch = await jinjaMismatch(common, all[i]!, (untruncated as { input_ids: number[] }).input_ids, i);
      if (mismatch) {
        common.warnings.push(mismatch);
        break;
      }
    }
  }
  for (const w of common.warnings) console.error(`warning: ${w}`);
  if (inspect.json) {
    const rows = records.map(({ index: i, record }) => {
      const main = views(record)[0]!;
      return { index: i, input_ids: main.ids, labels: main.labels, text: tokenizer.decode(main.ids) };
    });
    console.log(JSON.stringify(rows));
    return 0;
  }
  const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
  const stops = template.stopIds(tokenizer).map((id) => `${id} ${tokenizer.convertIdsToTokens(id)}`);
  console.log(
    `template ${template.name}, stage ${stage}, cutoff_len ${resolved.cutoffLen}; stop ids: ${stops.join(', ')}`,
  );
  console.log(colour ? `legend: ${GREEN}trained${RESET} ${DIM}masked${RESET}` : 'legend: [[trained]] masked');
  for (const { index: i, record, untruncated } of records) {
    const fullViews = untruncated ? views(untruncated) : [];
    views(record).forEach((v, k) => {
      const trained = v.labels.filter((l) => l !== IGNORE_INDEX).length;
      const before = fullViews[k]?.ids.length ?? v.ids.length;
      const cut = before > v.ids.length ? `, truncated from ${before}` : '';
      console.log(`\n--- record ${i} (${v.name}): ${v.ids.length} tokens, ${trained} trained${cut}`);
      console.log(renderSpans(tokenizer, v.ids, v.labels, colour));
    });
  }
  return 0;
}

const HELP_STATS = `Usage: lmforge data stats [config.yaml] --dataset NAME --model_name_or_path DIR [options]

Token statistics of a tokenized dataset: records, length histogram, truncated and dropped counts.
Options as for preview (no --index/--count), plus --preprocessing_num_workers N, --preprocessing_batch_size N
and --packing.

${SPELLING}`;

async function stats(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(HELP_STATS);
    return 0;
  }
  const typed = parseDataArgs(argv);
  const data = typed.groups.data as Record<string, unknown>;
  const inspect = typed.groups.inspect as { json: boolean };
  const common = setup(typed);
  const { stage, tokenizer, template } = common;
  const args = {
    ...common.dataArgs,
    packing: data.packing as boolean | null,
    preprocessing_num_workers: atLeast('preprocessing_num_workers', (data.preprocessing_num_workers as number) ?? 1, 1),
    preprocessing_batch_size: atLeast('preprocessing_batch_size', data.preprocessing_batch_size as number, 1),
  };
  const loaded = await getDataset(args, stage, { log: (m) => common.warnings.push(m) });
  const tokenized = await getTokenizedDataset(args, stage, tokenizer, template, {
    cache: false,
    dataset: loaded,
    log: (m) => common.warnings.push(m),
  });
  for (const w of common.warnings) console.error(`warning: ${w}`);
  const records = tokenized.train_dataset ?? [];
  const split = tokenized.stats.train!;
  const lengths = records.map((r) => views(r)[0]!.ids.length);
  const trained = records.reduce((n, r) => n + views(r)[0]!.labels.filter((l) => l !== IGNORE_INDEX).length, 0);
  const total = lengths.reduce((a, b) => a + b, 0);
  const summary = {
    samples: split.examples,
    records: records.length,
    tokens: total,
    trained_tokens: trained,
    mean_length: records.length ? total / records.length : 0,
    max_length: maxOf(lengths, 0),
    truncated: split.truncated,
    dropped: split.dropped.length,
    dropped_before_tokenization: loaded.report.droppedCount,
  };
  if (inspect.json) {
    console.log(JSON.stringify({ ...summary, lengths }));
    return 0;
  }
  console.log(`template ${template.name}, stage ${stage}`);
  console.log(`samples ${summary.samples}, records ${summary.records}, tokens ${total} (${trained} trained)`);
  console.log(`mean length ${summary.mean_length.toFixed(1)}, max ${summary.max_length}`);
  console.log(
    `truncated ${summary.truncated}, dropped ${summary.dropped} (+${summary.dropped_before_tokenization} invalid records before tokenization)`,
  );
  console.log('token lengths:');
  for (const line of lengthHistogram(lengths)) console.log(line);
  return 0;
}

const HELP_DATA = `Usage: lmforge data <preview|stats> [options]

Subcommands:
  preview   records as the model sees them (trained vs masked tokens)
  stats     token statistics: records, length histogram, truncated and dropped counts

Options (both subcommands):
  --dataset NAME        dataset name(s) from dataset_info.json (comma-separated; required)
  --dataset_dir DIR     folder with dataset_info.json (default data)
  --model_name_or_path DIR  folder with the tokenizer (required); --model for short
  --template NAME       chat template (default: parsed from the tokenizer's chat template)
  --stage STAGE         pt, sft (default), rm, dpo, kto, ppo
  --cutoff_len N        token budget (default 2048)
  --train_on_prompt     train on prompts too
  --mask_history        train on the last turn only
  --max_samples N       read at most N samples
  --json                machine-readable output
preview only: --index N --count N
stats only:   --preprocessing_num_workers N --preprocessing_batch_size N --packing
${SPELLING}

lmforge data <subcommand> -h shows that subcommand's options.`;

export async function dataCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  // Data, template and tokenizer errors are marked userFacing where thrown: main prints them as messages.
  if (sub === 'preview') return preview(rest);
  if (sub === 'stats') return stats(rest);
  if (sub === undefined || sub === '-h' || sub === '--help') {
    console.log(HELP_DATA);
    return sub === undefined ? 2 : 0;
  }
  throw userError(`unknown subcommand "${sub}": use preview or stats`);
}
