/**
 * `tokenizer.*` metadata from a saved HF tokenizer folder, as convert_hf_to_gguf.py's _set_vocab_gpt2 writes it for
 * byte-level BPE: `tokenizer.ggml.model` gpt2, `tokenizer.ggml.pre` naming the pre-tokenizer llama.cpp must use,
 * tokens by id (ids the vocabulary lacks up to vocab_size as `[PADi]`, UNUSED), token types (NORMAL; added tokens
 * CONTROL when special, USER_DEFINED otherwise), merges as "a b", the special ids, add_bos/add_eos and the chat
 * template. `pre` is recognised from the pre-tokenizer itself (llama.cpp hashes the tokenization of a test text to
 * the same names): GPT-2's ByteLevel regex is `gpt-2`, Llama 3's split regex `llama-bpe`, Qwen2's `qwen2`.
 * SentencePiece BPE tokenizers (Llama 2, Mistral) become llama.cpp's `llama` vocabulary (gguf-spm-tokenizer.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LLAMA3_SPLIT, QWEN2_SPLIT } from '../../tokenizer/byte-level-splits.js';
import type { Tokenizer } from '../../tokenizer/tokenizer.js';
import { GgufExportError } from './gguf-arch.js';
import { type GgufValue, TOKEN_TYPE } from './gguf-format.js';
import { isSentencePieceBpe, spmTokenizerMetadata } from './gguf-spm-tokenizer.js';

export { TOKEN_TYPE };

type Json = Record<string, unknown>;

/** llama.cpp's pre-tokenizer name for a tokenizer.json `pre_tokenizer`, or null when it is none of the known ones. */
export function ggufPreTokenizer(pre: unknown): string | null {
  const p = pre as Json | null;
  if (!p || typeof p !== 'object') return null;
  if (p.type === 'ByteLevel' && p.use_regex !== false && p.add_prefix_space === false) return 'gpt-2';
  if (p.type !== 'Sequence' || !Array.isArray(p.pretokenizers) || p.pretokenizers.length !== 2) return null;
  const [split, byteLevel] = p.pretokenizers as Json[];
  if (split?.type !== 'Split' || byteLevel?.type !== 'ByteLevel' || byteLevel.use_regex !== false) return null;
  const regex = (split.pattern as Json | undefined)?.Regex;
  if (regex === LLAMA3_SPLIT) return 'llama-bpe';
  if (regex === QWEN2_SPLIT) return 'qwen2';
  return null;
}

function readTokenizerJson(dir: string): Json {
  return JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as Json;
}

/** llama.cpp's pre-tokenizer name for the tokenizer in `dir`, or an error saying why it cannot be written. */
export function checkGgufTokenizer(dir: string, json: Json = readTokenizerJson(dir)): string {
  if (isSentencePieceBpe(json)) return 'default';
  const model = json.model as Json;
  if (model?.type !== 'BPE' || (json.decoder as Json | undefined)?.type !== 'ByteLevel')
    throw new GgufExportError(
      `the tokenizer in ${dir} is ${String(model?.type)} without a byte-level decoder; GGUF export writes ` +
        'byte-level BPE (GPT-2, Llama 3, Qwen2 tokenizers) and SentencePiece BPE (Llama 2, Mistral) so far: export ' +
        'as safetensors and convert with llama.cpp',
    );
  const pre = ggufPreTokenizer(json.pre_tokenizer);
  if (pre === null)
    throw new GgufExportError(
      `the pre_tokenizer in ${dir}/tokenizer.json is none llama.cpp knows by name here (gpt-2, llama-bpe, qwen2): ` +
        'export as safetensors and convert with llama.cpp convert_hf_to_gguf.py, which hashes it against its list',
    );
  return pre;
}

/** The tokenizer metadata for the tokenizer saved in `dir` (tokenizer.json written by Tokenizer.save). */
export function tokenizerMetadata(dir: string, tokenizer: Tokenizer, vocabSize: number): [string, GgufValue][] {
  const json = readTokenizerJson(dir);
  if (isSentencePieceBpe(json)) return spmTokenizerMetadata(json, tokenizer, vocabSize);
  const pre = checkGgufTokenizer(dir, json);
  const model = json.model as Json;
  const tokens: string[] = Array.from({ length: vocabSize }, (_, i) => `[PAD${i}]`);
  const types = new Int32Array(vocabSize).fill(TOKEN_TYPE.UNUSED);
  for (const [token, id] of Object.entries(model.vocab as Record<string, number>)) {
    if (id >= vocabSize) continue;
    tokens[id] = token;
    types[id] = TOKEN_TYPE.NORMAL;
  }
  for (const added of (json.added_tokens as Json[] | undefined) ?? []) {
    const id = added.id as number;
    if (id >= vocabSize)
      throw new GgufExportError(`added token ${String(added.content)} has id ${id} beyond vocab_size ${vocabSize}`);
    tokens[id] = added.content as string;
    types[id] = added.special ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
  }
  const merges = ((model.merges as unknown[]) ?? []).map((m) => (Array.isArray(m) ? m.join(' ') : String(m)));
  const out: [string, GgufValue][] = [
    ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'string', value: pre }],
    ['tokenizer.ggml.tokens', { type: 'array', of: 'string', value: tokens }],
    ['tokenizer.ggml.token_type', { type: 'array', of: 'i32', value: types }],
    ['tokenizer.ggml.merges', { type: 'array', of: 'string', value: merges }],
  ];
  const id = (key: string, v: number | null) => {
    if (v !== null) out.push([`tokenizer.ggml.${key}`, { type: 'u32', value: v }]);
  };
  id('bos_token_id', tokenizer.bosTokenId);
  id('eos_token_id', tokenizer.eosTokenId);
  id('unknown_token_id', tokenizer.unkTokenId);
  id('padding_token_id', tokenizer.padTokenId);
  out.push(['tokenizer.ggml.add_bos_token', { type: 'bool', value: tokenizer.addBosToken }]);
  out.push(['tokenizer.ggml.add_eos_token', { type: 'bool', value: tokenizer.addEosToken }]);
  const template = tokenizer.chatTemplate;
  if (template !== null) out.push(['tokenizer.chat_template', { type: 'string', value: template }]);
  return out;
}
