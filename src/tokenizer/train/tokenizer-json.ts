/**
 * Writes a trained byte-level BPE as a Hugging Face tokenizer folder: tokenizer.json (ByteLevel pre-tokenizer,
 * post-processor and decoder, as GPT-2 / Qwen write them), tokenizer_config.json and special_tokens_map.json.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../../io/atomic.js';
import { sentencePieceToTokenizerJson } from '../sentencepiece/convert.js';
import type { ModelProto } from '../sentencepiece/model-proto.js';
import { writeModelProto } from '../sentencepiece/write-model-proto.js';
import type { TrainedBpe } from './train-bpe.js';

const BYTE_LEVEL = { add_prefix_space: false, trim_offsets: true, use_regex: true };

export function addedTokenJson(id: number, content: string, special: boolean) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special };
}

export function byteLevelTokenizerJson(trained: TrainedBpe): Record<string, unknown> {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: trained.specialTokens.map((t) => addedTokenJson(t.id, t.content, true)),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...BYTE_LEVEL },
    post_processor: { type: 'ByteLevel', ...BYTE_LEVEL, trim_offsets: false },
    decoder: { type: 'ByteLevel', ...BYTE_LEVEL },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries([...trained.vocab.entries()].sort((a, b) => a[1] - b[1])),
      merges: trained.merges,
    },
  };
}

export interface TokenizerFolderOptions {
  /** The EOS (and pad) token: one of the special tokens, or null for none. */
  eosToken: string | null;
  modelMaxLength: number;
}

/** Writes the three files into `dir` (created if needed), each atomically. */
export function writeTrainedTokenizer(dir: string, trained: TrainedBpe, options: TokenizerFolderOptions): void {
  mkdirSync(dir, { recursive: true });
  const others = trained.specialTokens.map((t) => t.content).filter((t) => t !== options.eosToken);
  const specialMap: Record<string, unknown> = {
    ...(options.eosToken === null ? {} : { eos_token: options.eosToken, pad_token: options.eosToken }),
    ...(others.length > 0 ? { additional_special_tokens: others } : {}),
  };
  const config = {
    add_bos_token: false,
    add_eos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(
      trained.specialTokens.map((t) => {
        const { id: _id, ...rest } = addedTokenJson(t.id, t.content, true);
        return [String(t.id), rest];
      }),
    ),
    bos_token: null,
    clean_up_tokenization_spaces: false,
    errors: 'replace',
    model_max_length: options.modelMaxLength,
    tokenizer_class: 'PreTrainedTokenizerFast',
    ...specialMap,
  };
  writeFileAtomic(join(dir, 'tokenizer.json'), `${JSON.stringify(byteLevelTokenizerJson(trained))}\n`);
  writeJsonAtomic(join(dir, 'tokenizer_config.json'), config);
  writeJsonAtomic(join(dir, 'special_tokens_map.json'), specialMap);
}

/**
 * Writes a SentencePiece-style model as Llama 2's folders hold it: tokenizer.model, the tokenizer.json transformers
 * converts it to, and a LlamaTokenizer config (BOS added, no EOS), each atomically.
 */
export function writeSentencePieceTokenizer(dir: string, proto: ModelProto, modelMaxLength: number): void {
  mkdirSync(dir, { recursive: true });
  const json = sentencePieceToTokenizerJson(proto, join(dir, 'tokenizer.model'));
  const added = (json.added_tokens as { id: number; content: string; special: boolean }[]).filter((t) => t.special);
  const specialMap = {
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    ...(added.length > 3 ? { additional_special_tokens: added.slice(3).map((t) => t.content) } : {}),
  };
  const config = {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(
      added.map((t) => {
        const { id: _id, ...rest } = addedTokenJson(t.id, t.content, true);
        return [String(t.id), rest];
      }),
    ),
    clean_up_tokenization_spaces: false,
    legacy: false,
    model_max_length: modelMaxLength,
    pad_token: null,
    sp_model_kwargs: {},
    tokenizer_class: 'LlamaTokenizer',
    ...specialMap,
  };
  writeFileAtomic(join(dir, 'tokenizer.model'), writeModelProto(proto));
  writeFileAtomic(join(dir, 'tokenizer.json'), `${JSON.stringify(json)}\n`);
  writeJsonAtomic(join(dir, 'tokenizer_config.json'), config);
  writeJsonAtomic(join(dir, 'special_tokens_map.json'), specialMap);
}
