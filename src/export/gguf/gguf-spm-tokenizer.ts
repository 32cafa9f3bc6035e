/**
 * `tokenizer.*` metadata for a SentencePiece BPE tokenizer (Llama 2, Mistral: tokenizer.json's BPE with byte
 * fallback over text normalized to `▁` words) as llama.cpp's SentencePiece vocabulary (`tokenizer.ggml.model`
 * llama) holds it: tokens by id, scores, token types (NORMAL, UNKNOWN for the unk token, CONTROL for special added
 * tokens, USER_DEFINED for the rest, BYTE for `<0xXX>`), the special ids, add_bos/add_eos, add_space_prefix.
 * llama.cpp's SentencePiece tokenizer merges the adjacent pair whose joined piece scores highest; the score of a
 * piece is minus the rank of the first merge that makes it, so that order is the BPE merge order lmforge (and
 * Transformers) apply. Pieces no merge makes score below every merged one.
 */
import type { Tokenizer } from '../../tokenizer/tokenizer.js';
import { type GgufValue, TOKEN_TYPE } from './gguf-format.js';

type Json = Record<string, unknown>;

/** Whether tokenizer.json is a SentencePiece BPE (byte fallback, `▁` for spaces): what `llama` GGUF vocabularies are. */
export function isSentencePieceBpe(json: Json): boolean {
  const model = json.model as Json | undefined;
  if (model?.type !== 'BPE' || model.byte_fallback !== true) return false;
  const normalizer = json.normalizer as Json | null;
  const steps = normalizer?.type === 'Sequence' ? (normalizer.normalizers as Json[]) : normalizer ? [normalizer] : [];
  const replacesSpaces = steps.some(
    (s) => s.type === 'Replace' && (s.pattern as Json | undefined)?.String === ' ' && s.content === '▁',
  );
  const metaspace = (json.pre_tokenizer as Json | null)?.type === 'Metaspace';
  return replacesSpaces || metaspace;
}

/** Whether the normalizer (or a Metaspace pre-tokenizer) puts `▁` before the text (SentencePiece's add_dummy_prefix). */
function addsSpacePrefix(json: Json): boolean {
  const normalizer = json.normalizer as Json | null;
  const steps = normalizer?.type === 'Sequence' ? (normalizer.normalizers as Json[]) : normalizer ? [normalizer] : [];
  if (steps.some((s) => s.type === 'Prepend' && s.prepend === '▁')) return true;
  const pre = json.pre_tokenizer as Json | null;
  return pre?.type === 'Metaspace' && pre.prepend_scheme !== 'never' && pre.add_prefix_space !== false;
}

export function spmTokenizerMetadata(json: Json, tokenizer: Tokenizer, vocabSize: number): [string, GgufValue][] {
  const model = json.model as Json;
  const vocab = model.vocab as Record<string, number>;
  const tokens: string[] = Array.from({ length: vocabSize }, (_, i) => `[PAD${i}]`);
  const types = new Int32Array(vocabSize).fill(TOKEN_TYPE.UNUSED);
  const scores = new Float32Array(vocabSize);
  const merges = ((model.merges as unknown[]) ?? []).map((m) =>
    Array.isArray(m) ? m.join('') : String(m).replace(' ', ''),
  );
  const rank = new Map<string, number>();
  merges.forEach((joined, i) => {
    if (!rank.has(joined)) rank.set(joined, i);
  });
  const unmerged = -(merges.length + 1);
  for (const [token, id] of Object.entries(vocab)) {
    if (id >= vocabSize) continue;
    tokens[id] = token;
    const byte = /^<0x[0-9A-F]{2}>$/.test(token);
    types[id] = byte ? TOKEN_TYPE.BYTE : TOKEN_TYPE.NORMAL;
    scores[id] = byte ? 0 : -(rank.get(token) ?? -unmerged);
  }
  for (const added of (json.added_tokens as Json[] | undefined) ?? []) {
    const id = added.id as number;
    if (id >= vocabSize) continue;
    tokens[id] = added.content as string;
    types[id] =
      added.content === model.unk_token
        ? TOKEN_TYPE.UNKNOWN
        : added.special
          ? TOKEN_TYPE.CONTROL
          : TOKEN_TYPE.USER_DEFINED;
    scores[id] = 0;
  }
  const out: [string, GgufValue][] = [
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.pre', { type: 'string', value: 'default' }],
    ['tokenizer.ggml.tokens', { type: 'array', of: 'string', value: tokens }],
    ['tokenizer.ggml.scores', { type: 'array', of: 'f32', value: scores }],
    ['tokenizer.ggml.token_type', { type: 'array', of: 'i32', value: types }],
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
  out.push(['tokenizer.ggml.add_space_prefix', { type: 'bool', value: addsSpacePrefix(json) }]);
  const template = tokenizer.chatTemplate;
  if (template !== null) out.push(['tokenizer.chat_template', { type: 'string', value: template }]);
  return out;
}
