/**
 * A GGUF SentencePiece vocabulary (`tokenizer.ggml.model` llama: tokens, scores, token types) as the tokenizer.json
 * Transformers' SentencePiece converter writes for Llama 2 / Mistral: BPE with byte fallback over text whose spaces
 * become `▁` (and, with add_space_prefix, a `▁` in front), decoded back by the reverse steps. The merges come from
 * the scores as the converter makes them: every split of a piece into two pieces of the vocabulary, ordered by the
 * joined piece's score (highest first), so BPE merges in the order llama.cpp's tokenizer picks pairs.
 */
import type { GgufFile } from '../io/gguf-file.js';
import { TokenizerError } from './errors.js';

const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** BPE merges ("left right") implied by SentencePiece scores. */
export function mergesFromScores(tokens: readonly string[], scores: ArrayLike<number>, types: ArrayLike<number>) {
  const ids = new Map<string, number>();
  tokens.forEach((t, id) => {
    if (!ids.has(t)) ids.set(t, id);
  });
  const found: { left: number; right: number; score: number; text: string }[] = [];
  tokens.forEach((piece, id) => {
    const type = types[id] ?? TOKEN_TYPE.NORMAL;
    if (type !== TOKEN_TYPE.NORMAL && type !== TOKEN_TYPE.USER_DEFINED) return;
    const chars = Array.from(piece);
    for (let i = 1; i < chars.length; i++) {
      const left = ids.get(chars.slice(0, i).join(''));
      const right = ids.get(chars.slice(i).join(''));
      if (left !== undefined && right !== undefined)
        found.push({ left, right, score: scores[id] ?? 0, text: `${tokens[left]} ${tokens[right]}` });
    }
  });
  found.sort((a, b) => b.score - a.score || a.left - b.left || a.right - b.right);
  return found.map((m) => m.text);
}

/** tokenizer.json and tokenizer_config.json (as objects) for the SentencePiece vocabulary stored in `file`. */
export function spmTokenizerJson(file: GgufFile): { tokenizer: unknown; config: Record<string, unknown> } {
  const tokens = file.get('tokenizer.ggml.tokens') as string[] | undefined;
  const scores = file.get('tokenizer.ggml.scores') as number[] | undefined;
  if (!Array.isArray(tokens)) throw new TokenizerError(`${file.path}: tokenizer.ggml.tokens is missing`);
  if (!Array.isArray(scores) || scores.length !== tokens.length)
    throw new TokenizerError(
      `${file.path}: tokenizer.ggml.scores is missing or not one per token (a SentencePiece vocabulary needs them)`,
    );
  const types = (file.get('tokenizer.ggml.token_type') as number[] | undefined) ?? [];
  const vocab: Record<string, number> = Object.create(null);
  const added: Record<string, unknown>[] = [];
  tokens.forEach((token, id) => {
    if (vocab[token] === undefined) vocab[token] = id;
    const type = types[id] ?? TOKEN_TYPE.NORMAL;
    if (type === TOKEN_TYPE.CONTROL || type === TOKEN_TYPE.USER_DEFINED || type === TOKEN_TYPE.UNKNOWN)
      added.push({
        id,
        content: token,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: type !== TOKEN_TYPE.USER_DEFINED,
      });
  });
  const special = (key: string): string | null => {
    const id = file.get(`tokenizer.ggml.${key}`);
    return typeof id === 'number' && id < tokens.length ? (tokens[id] as string) : null;
  };
  const bos = special('bos_token_id');
  const eos = special('eos_token_id');
  const unk = special('unknown_token_id');
  const addBos = file.get('tokenizer.ggml.add_bos_token') !== false && bos !== null;
  const addEos = file.get('tokenizer.ggml.add_eos_token') === true && eos !== null;
  const spacePrefix = file.get('tokenizer.ggml.add_space_prefix') !== false;
  const piece = (t: string, typeId: number) => ({ SpecialToken: { id: t, type_id: typeId } });
  const sequence = (id: 'A' | 'B', typeId: number) => [
    ...(addBos ? [piece(bos as string, typeId)] : []),
    { Sequence: { id, type_id: typeId } },
    ...(addEos ? [piece(eos as string, typeId)] : []),
  ];
  const specials: Record<string, unknown> = {};
  for (const t of [addBos ? bos : null, addEos ? eos : null])
    if (t !== null) specials[t] = { id: t, ids: [tokens.indexOf(t)], tokens: [t] };
  const replaceSpaces = { type: 'Replace', pattern: { String: ' ' }, content: '▁' };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: spacePrefix
      ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, replaceSpaces] }
      : replaceSpaces,
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: sequence('A', 0),
      pair: [...sequence('A', 0), ...sequence('B', 1)],
      special_tokens: specials,
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        ...(spacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      merges: mergesFromScores(tokens, scores, types),
    },
  };
  const template = file.get('tokenizer.chat_template');
  const config: Record<string, unknown> = {
    tokenizer_class: 'LlamaTokenizerFast',
    clean_up_tokenization_spaces: false,
    legacy: false,
    bos_token: bos,
    eos_token: eos,
    pad_token: special('padding_token_id'),
    unk_token: unk,
    add_bos_token: addBos,
    add_eos_token: addEos,
  };
  if (typeof template === 'string') config.chat_template = template;
  return { tokenizer, config };
}
