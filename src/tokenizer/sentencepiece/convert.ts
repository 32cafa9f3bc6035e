/**
 * A SentencePiece ModelProto as the tokenizer.json transformers' converters write for it: BPE models (Llama 2,
 * Mistral, Baichuan, Yi, ChatGLM3) as LlamaConverter does (a "▁" prefix and space replacement, byte fallback, merges
 * recovered from the piece scores as SentencePieceExtractor does), unigram models as SpmConverter does (Metaspace,
 * the precompiled character map). Control and unknown pieces become special added tokens, user-defined ones plain
 * added tokens.
 */
import { TokenizerError } from '../errors.js';
import { MODEL_TYPE, type ModelProto, PIECE_TYPE } from './model-proto.js';

type Json = Record<string, unknown>;

function addedToken(id: number, content: string, special: boolean): Json {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}

/**
 * SentencePieceExtractor: every split of every piece into two pieces of the vocabulary is a merge, ordered by the
 * merged piece's score (highest first), then by the two halves' ids.
 */
function recoverMerges(proto: ModelProto, vocab: Map<string, number>): [string, string][] {
  const merges: { left: string; right: string; score: number; order: number }[] = [];
  for (const p of proto.pieces) {
    if (p.type !== PIECE_TYPE.NORMAL && p.type !== PIECE_TYPE.USER_DEFINED) continue;
    const chars = [...p.piece];
    const local: { left: string; right: string }[] = [];
    for (let i = 1; i < chars.length; i++) {
      const left = chars.slice(0, i).join('');
      const right = chars.slice(i).join('');
      if (vocab.has(left) && vocab.has(right)) local.push({ left, right });
    }
    local.sort(
      (a, b) =>
        (vocab.get(a.left) as number) - (vocab.get(b.left) as number) ||
        (vocab.get(a.right) as number) - (vocab.get(b.right) as number),
    );
    for (const m of local) merges.push({ ...m, score: p.score, order: merges.length });
  }
  merges.sort((a, b) => b.score - a.score || a.order - b.order);
  return merges.map((m) => [m.left, m.right]);
}

function specialsOf(proto: ModelProto): Json[] {
  const out: Json[] = [];
  proto.pieces.forEach((p, id) => {
    if (p.type === PIECE_TYPE.CONTROL || p.type === PIECE_TYPE.UNKNOWN) out.push(addedToken(id, p.piece, true));
    else if (p.type === PIECE_TYPE.USER_DEFINED) out.push(addedToken(id, p.piece, false));
  });
  return out;
}

function bosProcessor(proto: ModelProto): Json | null {
  const bos = proto.pieces[proto.bosId]?.piece;
  if (proto.bosId < 0 || bos === undefined) return null;
  const special = { SpecialToken: { id: bos, type_id: 0 } };
  return {
    type: 'TemplateProcessing',
    single: [special, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [
      special,
      { Sequence: { id: 'A', type_id: 0 } },
      { SpecialToken: { id: bos, type_id: 1 } },
      { Sequence: { id: 'B', type_id: 1 } },
    ],
    special_tokens: { [bos]: { id: bos, ids: [proto.bosId], tokens: [bos] } },
  };
}

function bpeTokenizerJson(proto: ModelProto): Json {
  const vocab = new Map<string, number>();
  proto.pieces.forEach((p, id) => {
    if (!vocab.has(p.piece)) vocab.set(p.piece, id);
  });
  const unk = proto.unkId >= 0 ? (proto.pieces[proto.unkId]?.piece ?? null) : null;
  const normalizers: Json[] = [];
  if (proto.addDummyPrefix) normalizers.push({ type: 'Prepend', prepend: '▁' });
  normalizers.push({ type: 'Replace', pattern: { String: ' ' }, content: '▁' });
  const decoders: Json[] = [
    { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
    ...(proto.byteFallback ? [{ type: 'ByteFallback' }] : []),
    { type: 'Fuse' },
    ...(proto.addDummyPrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
  ];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialsOf(proto),
    normalizer: { type: 'Sequence', normalizers },
    pre_tokenizer: null,
    post_processor: bosProcessor(proto),
    decoder: { type: 'Sequence', decoders },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: proto.byteFallback,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges: recoverMerges(proto, vocab),
    },
  };
}

function unigramTokenizerJson(proto: ModelProto): Json {
  const normalizers: Json[] = [];
  if (proto.precompiledCharsmap.length > 0)
    normalizers.push({
      type: 'Precompiled',
      precompiled_charsmap: Buffer.from(proto.precompiledCharsmap).toString('base64'),
    });
  if (proto.removeExtraWhitespaces)
    normalizers.push(
      { type: 'Strip', strip_left: false, strip_right: true },
      { type: 'Replace', pattern: { Regex: ' {2,}' }, content: '▁' },
    );
  const metaspace = { replacement: '▁', prepend_scheme: proto.addDummyPrefix ? 'always' : 'never', split: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialsOf(proto),
    normalizer: normalizers.length > 0 ? { type: 'Sequence', normalizers } : null,
    pre_tokenizer: { type: 'Metaspace', ...metaspace },
    post_processor: bosProcessor(proto),
    decoder: { type: 'Metaspace', ...metaspace },
    model: {
      type: 'Unigram',
      unk_id: proto.unkId >= 0 ? proto.unkId : null,
      vocab: proto.pieces.map((p) => [p.piece, p.score]),
      byte_fallback: proto.byteFallback,
    },
  };
}

/** The tokenizer.json object for a parsed tokenizer.model; `file` names it in errors. */
export function sentencePieceToTokenizerJson(proto: ModelProto, file: string): Json {
  if (proto.modelType === MODEL_TYPE.BPE) return bpeTokenizerJson(proto);
  if (proto.modelType === MODEL_TYPE.UNIGRAM) return unigramTokenizerJson(proto);
  throw new TokenizerError(
    `${file}: sentencepiece model type ${proto.modelType === MODEL_TYPE.WORD ? 'WORD' : proto.modelType === MODEL_TYPE.CHAR ? 'CHAR' : proto.modelType} is not supported (BPE and unigram are)`,
  );
}
