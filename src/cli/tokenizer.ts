/**
 * `lmforge tokenizer train|extend|stats`: the Chinese-LLaMA recipe's first steps. train learns a byte-level BPE
 * from text files or datasets; extend appends its pieces to a model's tokenizer and grows the model's embedding
 * (and LM head) to match; stats measures tokens per character and per word, before and after.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatHelp, parseCommandArgs, TOKENIZER_GROUPS } from '../hparams/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { copyTokenizerFiles } from '../models/saving.js';
import { TokenizerError } from '../tokenizer/errors.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { readCorpus } from '../tokenizer/train/corpus.js';
import { extendBpeVocab } from '../tokenizer/train/extend-vocab.js';
import { measureTokenizer, type TokenStats } from '../tokenizer/train/stats.js';

const SUBCOMMANDS = ['train', 'extend', 'stats'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

function userError(message: string): Error {
  return Object.assign(new Error(message), { userFacing: true });
}

/** Reads the arguments after an optional leading train|extend|stats, like every command (YAML, key=value, --key). */
export function parseTokenizerArgs(argv: readonly string[]) {
  const rest = SUBCOMMANDS.includes(argv[0] as Subcommand) ? argv.slice(1) : argv;
  return parseCommandArgs(rest, TOKENIZER_GROUPS, { command: 'tokenizer' });
}

type Args = ReturnType<typeof parseTokenizerArgs>['groups'];

function corpusOf(groups: Args) {
  const t = groups.tokenizer as Record<string, unknown>;
  const d = groups.data as Record<string, unknown>;
  return readCorpus({
    textFiles: (t.text_files as string[] | null) ?? [],
    datasets: (d.dataset as string[] | null) ?? [],
    datasetDir: d.dataset_dir as string,
    maxSamples: d.max_samples as number | null,
  });
}

function required(value: unknown, name: string, what: string): string {
  if (typeof value !== 'string' || value === '') throw userError(`--${name} is required: ${what}`);
  return value;
}

async function train(groups: Args): Promise<void> {
  const t = groups.tokenizer as Record<string, unknown>;
  const outDir = required(t.output_dir, 'output_dir', 'the folder to write tokenizer.json into');
  if (t.tokenizer_type === 'sentencepiece') return trainSentencePiece(groups, outDir);
  const { trainByteLevelBpe } = await import('../tokenizer/train/train-bpe.js');
  const { writeTrainedTokenizer } = await import('../tokenizer/train/tokenizer-json.js');
  const texts = await corpusOf(groups);
  const started = performance.now();
  const specials = t.special_tokens as string[];
  const trained = trainByteLevelBpe(texts, {
    vocabSize: t.vocab_size as number,
    minFrequency: t.min_frequency as number,
    specialTokens: specials,
  });
  writeTrainedTokenizer(outDir, trained, {
    eosToken: specials[0] ?? null,
    modelMaxLength: t.model_max_length as number,
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const size = trained.vocab.size + trained.specialTokens.length;
  console.log(
    `trained a byte-level BPE of ${size} ids (${trained.merges.length} merges) on ${texts.length} texts ` +
      `(${trained.preTokens} pre-tokens, ${trained.uniquePreTokens} distinct) in ${seconds} s -> ${join(outDir, 'tokenizer.json')}`,
  );
  if (size < (t.vocab_size as number))
    console.log(`no pair occurs ${t.min_frequency} times any more: stopped below vocab_size ${t.vocab_size}`);
}

async function trainSentencePiece(groups: Args, outDir: string): Promise<void> {
  const t = groups.tokenizer as Record<string, unknown>;
  const { trainSentencePieceBpe } = await import('../tokenizer/train/train-sentencepiece.js');
  const { writeSentencePieceTokenizer } = await import('../tokenizer/train/tokenizer-json.js');
  const texts = await corpusOf(groups);
  const started = performance.now();
  const proto = trainSentencePieceBpe(texts, {
    vocabSize: t.vocab_size as number,
    minFrequency: t.min_frequency as number,
    characterCoverage: t.character_coverage as number,
    specialTokens: t.special_tokens as string[],
  });
  writeSentencePieceTokenizer(outDir, proto, t.model_max_length as number);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `trained a SentencePiece-style BPE of ${proto.pieces.length} pieces on ${texts.length} texts in ${seconds} s ` +
      `-> ${join(outDir, 'tokenizer.model')} (+ tokenizer.json)`,
  );
}

async function extend(groups: Args): Promise<void> {
  const t = groups.tokenizer as Record<string, unknown>;
  const m = groups.model as Record<string, unknown>;
  const modelDir = required(m.model_name_or_path, 'model_name_or_path', 'the model folder to extend');
  const newDir = required(
    t.new_tokenizer,
    'new_tokenizer',
    'the folder of the trained tokenizer (lmforge tokenizer train)',
  );
  const outDir = required(t.output_dir, 'output_dir', 'the folder to write the extended model into');
  for (const [dir, what] of [
    [modelDir, 'model_name_or_path'],
    [newDir, 'new_tokenizer'],
  ] as const) {
    if (!existsSync(join(dir, 'tokenizer.json'))) throw new TokenizerError(`${what} ${dir} has no tokenizer.json`);
  }
  const readJson = (dir: string) => JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const extended = extendBpeVocab(readJson(modelDir), readJson(newDir));
  const tokens = extended.firstNewId + extended.added.length;
  const summary = `added ${extended.added.length} tokens (ids ${extended.firstNewId}-${tokens - 1}; ${extended.alreadyPresent} pieces were already there)`;
  // A tokenizer-only folder (no config.json) is extended without a model to resize.
  let resized = 'no config.json, so only the tokenizer was extended';
  if (existsSync(join(modelDir, 'config.json'))) {
    const { paddedVocabSize, resizeCheckpointVocab } = await import('../models/resize-vocab.js');
    const report = resizeCheckpointVocab(modelDir, outDir, paddedVocabSize(tokens, t.pad_to_multiple_of as number));
    resized = `${report.resized.join(', ')}: ${report.oldRows} -> ${report.newRows} rows`;
  } else mkdirSync(outDir, { recursive: true });
  copyTokenizerFiles(modelDir, outDir);
  writeFileAtomic(join(outDir, 'tokenizer.json'), `${JSON.stringify(extended.tokenizerJson)}\n`);
  // The extended folder must load as a tokenizer: a broken merge list fails here, not at training time.
  Tokenizer.fromDir(outDir);
  console.log(`${summary}; ${resized} -> ${outDir}`);
}

function formatStats(name: string, s: TokenStats): string {
  return (
    `${name}: ${s.tokens} tokens, ${s.chars} characters, ${s.words} words: ` +
    `${s.tokensPerChar.toFixed(3)} tokens/char, ${s.tokensPerWord.toFixed(3)} tokens/word` +
    (s.hanChars > 0 ? `, ${s.tokensPerHanChar.toFixed(3)} tokens/Chinese character` : '')
  );
}

async function stats(groups: Args, json: boolean): Promise<void> {
  const t = groups.tokenizer as Record<string, unknown>;
  const m = groups.model as Record<string, unknown>;
  const modelDir = required(m.model_name_or_path, 'model_name_or_path', 'the model or tokenizer folder to measure');
  const texts = await corpusOf(groups);
  const before = await measureTokenizer(Tokenizer.fromDir(modelDir), texts);
  const compare = t.compare_tokenizer as string | null;
  const after = compare === null ? null : await measureTokenizer(Tokenizer.fromDir(compare), texts);
  if (json) {
    console.log(JSON.stringify({ [modelDir]: before, ...(after && compare ? { [compare]: after } : {}) }));
    return;
  }
  console.log(formatStats(modelDir, before));
  if (after && compare) {
    console.log(formatStats(compare, after));
    console.log(`${(before.tokens / after.tokens).toFixed(2)}x fewer tokens with ${compare}`);
  }
}

export async function tokenizerCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || rest.includes('-h') || rest.includes('--help')) {
    console.log(
      formatHelp(TOKENIZER_GROUPS, 'tokenizer <train|extend|stats>', {
        only: { model: ['model_name_or_path'], data: ['dataset', 'dataset_dir', 'max_samples'] },
        extra: [
          '',
          '  train   learn a byte-level BPE tokenizer from --text_files or --dataset (vocab_size, special_tokens)',
          "  extend  add --new_tokenizer's pieces to --model_name_or_path's tokenizer and grow its embeddings",
          '  stats   tokens per character and per word on a text (with --compare_tokenizer: before/after)',
        ],
      }),
    );
    return sub === undefined ? 2 : 0;
  }
  if (!SUBCOMMANDS.includes(sub as Subcommand)) {
    console.error(`lmforge tokenizer: unknown subcommand '${sub}': use train, extend or stats`);
    return 2;
  }
  const { groups, notes } = parseTokenizerArgs(rest);
  for (const note of notes) console.error(`[lmforge] note: ${note}`);
  if (sub === 'train') await train(groups);
  else if (sub === 'extend') await extend(groups);
  else await stats(groups, (groups.tokenizer as Record<string, unknown>).json === true);
  return 0;
}
