/**
 * The tokenizer of a GGUF file as Hugging Face tokenizer files: `tokenizer.ggml.model` gpt2 (byte-level BPE) becomes
 * a tokenizer.json with the vocabulary, merges and the pre-tokenizer `tokenizer.ggml.pre` names (gpt-2, llama-bpe,
 * qwen2), CONTROL tokens as special added tokens and USER_DEFINED ones as plain added tokens, BOS/EOS added as
 * add_bos/add_eos say (`llama` SentencePiece vocabularies: gguf-spm-tokenizer.ts); tokenizer_config.json gets the special tokens and `tokenizer.chat_template`. The files are
 * written once per GGUF (path, size, mtime) into a cache folder under the OS temp dir, then read as any folder.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GgufFile } from '../io/gguf-file.js';
import { LLAMA3_SPLIT, QWEN2_SPLIT } from './byte-level-splits.js';
import { TokenizerError } from './errors.js';
import { spmTokenizerJson } from './gguf-spm-tokenizer.js';

const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

function byteLevel(useRegex: boolean, trimOffsets = true) {
  return { type: 'ByteLevel', add_prefix_space: false, trim_offsets: trimOffsets, use_regex: useRegex };
}

function preTokenizer(pre: string, path: string): unknown {
  if (pre === 'gpt-2') return byteLevel(true);
  const regex = pre === 'llama-bpe' ? LLAMA3_SPLIT : pre === 'qwen2' ? QWEN2_SPLIT : null;
  if (regex === null)
    throw new TokenizerError(
      `${path}: tokenizer.ggml.pre ${pre} is not read yet (gpt-2, llama-bpe and qwen2 are): load the model from ` +
        'its Hugging Face folder instead',
    );
  return {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
      byteLevel(false, false),
    ],
  };
}

/** tokenizer.json and tokenizer_config.json (as objects) for the tokenizer stored in `file`. */
export function ggufTokenizerJson(file: GgufFile): { tokenizer: unknown; config: Record<string, unknown> } {
  const model = file.get('tokenizer.ggml.model');
  if (model === 'llama') return spmTokenizerJson(file);
  if (model !== 'gpt2')
    throw new TokenizerError(
      `${file.path}: tokenizer.ggml.model ${String(model)} is not read yet (gpt2 byte-level BPE and llama SentencePiece are): ` +
        'load the model from its Hugging Face folder instead',
    );
  const tokens = file.get('tokenizer.ggml.tokens') as string[] | undefined;
  if (!Array.isArray(tokens)) throw new TokenizerError(`${file.path}: tokenizer.ggml.tokens is missing`);
  const types = (file.get('tokenizer.ggml.token_type') as number[] | undefined) ?? [];
  const merges = (file.get('tokenizer.ggml.merges') as string[] | undefined) ?? [];
  const pre = String(file.get('tokenizer.ggml.pre') ?? 'gpt-2');
  // no prototype: tokens such as `toString` or `__proto__` are plain keys
  const vocab: Record<string, number> = Object.create(null);
  const added: Record<string, unknown>[] = [];
  tokens.forEach((token, id) => {
    const type = types[id] ?? TOKEN_TYPE.NORMAL;
    if (type === TOKEN_TYPE.CONTROL || type === TOKEN_TYPE.USER_DEFINED)
      added.push({
        id,
        content: token,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: type === TOKEN_TYPE.CONTROL,
      });
    else if (vocab[token] === undefined) vocab[token] = id;
  });
  const special = (key: string): string | null => {
    const id = file.get(`tokenizer.ggml.${key}`);
    return typeof id === 'number' && id < tokens.length ? (tokens[id] as string) : null;
  };
  const bos = special('bos_token_id');
  const eos = special('eos_token_id');
  const addBos = file.get('tokenizer.ggml.add_bos_token') === true && bos !== null;
  const addEos = file.get('tokenizer.ggml.add_eos_token') === true && eos !== null;
  const piece = (t: string) => ({ SpecialToken: { id: t, type_id: 0 } });
  const single = [
    ...(addBos ? [piece(bos as string)] : []),
    { Sequence: { id: 'A', type_id: 0 } },
    ...(addEos ? [piece(eos as string)] : []),
  ];
  const specials: Record<string, unknown> = {};
  for (const t of [addBos ? bos : null, addEos ? eos : null])
    if (t !== null) specials[t] = { id: t, ids: [tokens.indexOf(t)], tokens: [t] };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: preTokenizer(pre, file.path),
    post_processor:
      addBos || addEos
        ? { type: 'TemplateProcessing', single, pair: [...single], special_tokens: specials }
        : byteLevel(true, false),
    decoder: byteLevel(true),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: pre === 'llama-bpe',
      vocab,
      merges,
    },
  };
  const template = file.get('tokenizer.chat_template');
  const config: Record<string, unknown> = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    clean_up_tokenization_spaces: false,
    bos_token: bos,
    eos_token: eos,
    pad_token: special('padding_token_id'),
    unk_token: special('unknown_token_id'),
    add_bos_token: addBos,
    add_eos_token: addEos,
  };
  if (typeof template === 'string') config.chat_template = template;
  return { tokenizer, config };
}

/** A folder holding the tokenizer files of the GGUF at `path` (written on first use). */
export function ggufTokenizerDir(path: string): string {
  const full = resolve(path);
  const st = statSync(full);
  const key = createHash('sha256').update(`${full}\0${st.size}\0${st.mtimeMs}`).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'lmforge-gguf-tokenizers', key);
  if (existsSync(join(dir, 'tokenizer_config.json'))) return dir;
  const { tokenizer, config } = ggufTokenizerJson(GgufFile.open(full));
  const staging = `${dir}.tmp-${process.pid}`;
  mkdirSync(staging, { recursive: true });
  writeFileSync(join(staging, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(staging, 'tokenizer_config.json'), JSON.stringify(config, null, 2));
  try {
    renameSync(staging, dir);
  } catch (e) {
    // another process wrote the same folder first: its files are the same
    if (!existsSync(join(dir, 'tokenizer_config.json'))) throw e;
  }
  return dir;
}
