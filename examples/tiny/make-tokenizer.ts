/**
 * Trains the byte-level BPE tokenizer of the tiny base model on examples/data/tiny_pretrain.jsonl and
 * writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into examples/tiny/base.
 *
 *   npx tsx examples/tiny/make-tokenizer.ts
 *
 * Training runs in HF's Rust BPE trainer through the `tokenizers` npm package. Its JS binding only
 * exposes `train(files)` with the default trainer (30000 tokens, no initial alphabet), so this script
 * trains the full-size merge list once and keeps its first merges: BPE training is greedy, so the
 * first N merges are exactly what a trainer stopped at N merges would learn. The 256-byte alphabet is
 * written in full, so any text round-trips, whatever bytes the corpus happened to contain.
 *
 * Special tokens follow Qwen2.5's base models: `<|endoftext|>` ends every pre-training document and
 * pads; `<|im_start|>`/`<|im_end|>` frame ChatML turns (LLaMA-Factory's `qwen` template swaps the EOS
 * for `<|im_end|>` during SFT). There is no BOS token, as in Qwen.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BPE, byteLevelPreTokenizer, Tokenizer } from 'tokenizers';

/** 8192 = 256 bytes + 7933 merges + 3 special tokens. */
const VOCAB_SIZE = 8192;
const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;
/** ChatML as LLaMA-Factory's qwen template writes it, without a default system message. */
const CHAT_TEMPLATE =
  '{%- for message in messages %}' +
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  '{%- endfor %}' +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

const here = dirname(fileURLToPath(import.meta.url));
const corpusFile = resolve(here, '../data/tiny_pretrain.jsonl');
const outDir = resolve(here, 'base');

/** GPT-2's byte-to-character map: printable bytes stand for themselves, the rest move to U+0100 onwards. */
function byteAlphabet(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const out: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 256 + shifted++));
  return out;
}

function trainMerges(texts: readonly string[]): [string, string][] {
  const work = mkdtempSync(join(tmpdir(), 'lmforge-tiny-tokenizer-'));
  try {
    // The trainer reads files line by line; merges never cross the pre-tokenizer's splits, which put
    // every run of newlines in a word of its own, so splitting poems into lines loses no merge.
    const textFile = join(work, 'corpus.txt');
    writeFileSync(textFile, texts.join('\n'));
    const trainer = new Tokenizer(BPE.empty());
    trainer.setPreTokenizer(byteLevelPreTokenizer(false, true));
    trainer.train([textFile]);
    const savedFile = join(work, 'trained.json');
    trainer.save(savedFile);
    const saved = JSON.parse(readFileSync(savedFile, 'utf8')) as { model: { merges: [string, string][] } };
    return saved.model.merges;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function main(): void {
  const texts = readFileSync(corpusFile, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => (JSON.parse(line) as { text: string }).text);
  const alphabet = byteAlphabet();
  const mergeCount = VOCAB_SIZE - alphabet.length - SPECIAL_TOKENS.length;
  const allMerges = trainMerges(texts);
  if (allMerges.length < mergeCount) {
    throw new Error(`the trainer learned only ${allMerges.length} merges, fewer than the ${mergeCount} needed`);
  }
  const merges = allMerges.slice(0, mergeCount);

  const vocab: Record<string, number> = {};
  for (const symbol of alphabet) vocab[symbol] = Object.keys(vocab).length;
  for (const [left, right] of merges) {
    if (vocab[left] === undefined || vocab[right] === undefined) {
      throw new Error(`merge ${left} + ${right} uses a token not learned before it; the merge list is not greedy`);
    }
    const merged = left + right;
    if (vocab[merged] !== undefined) throw new Error(`merge ${left} + ${right} repeats token ${merged}`);
    vocab[merged] = Object.keys(vocab).length;
  }
  const firstSpecial = Object.keys(vocab).length;
  const addedTokens = SPECIAL_TOKENS.map((content, i) => ({
    id: firstSpecial + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));

  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const addedTokensDecoder = Object.fromEntries(
    addedTokens.map(({ id, ...rest }) => [String(id), { ...rest }] as const),
  );
  const tokenizerConfig = {
    add_bos_token: false,
    add_eos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: addedTokensDecoder,
    additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
    bos_token: null,
    chat_template: CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: '<|endoftext|>',
    errors: 'replace',
    model_max_length: 512,
    pad_token: '<|endoftext|>',
    split_special_tokens: false,
    tokenizer_class: 'PreTrainedTokenizerFast',
    unk_token: null,
  };
  const specialTokensMap = {
    additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
    eos_token: '<|endoftext|>',
    pad_token: '<|endoftext|>',
  };

  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'tokenizer.json'), `${JSON.stringify(tokenizerJson)}\n`);
  writeFileSync(join(outDir, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);
  writeFileSync(join(outDir, 'special_tokens_map.json'), `${JSON.stringify(specialTokensMap, null, 2)}\n`);
  console.log(
    `wrote ${outDir}: vocab ${VOCAB_SIZE} (${alphabet.length} bytes, ${merges.length} merges, ${SPECIAL_TOKENS.length} special)`,
  );
}

main();
