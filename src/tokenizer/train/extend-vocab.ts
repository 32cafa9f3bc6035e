/**
 * Vocabulary extension of a BPE tokenizer.json (the Chinese-LLaMA recipe): the new tokenizer's pieces are appended
 * after every id the base already uses, so old ids never move, and merges are appended so the extended tokenizer
 * actually produces them. A piece whose halves the base already splits differently gets a chain of merges over the
 * base's own segmentation of it (left to right), each intermediate piece becoming a token too. Byte-level bases
 * (GPT-2, Llama-3, Qwen) take the pieces as they are; SentencePiece-style ones (Llama 2, Mistral) as characters.
 */
import { TokenizerError } from '../errors.js';
import { BYTE_TO_CHAR, bytesToToken, tokenToBytes } from './byte-level.js';

type Merge = [string, string];

interface BpeModelJson {
  type?: string;
  vocab?: Record<string, number>;
  merges?: (string | Merge)[];
  byte_fallback?: boolean;
}

interface TokenizerJson {
  added_tokens?: { id: number; content: string }[];
  normalizer?: unknown;
  pre_tokenizer?: { type?: string; pretokenizers?: { type?: string }[] } | null;
  model?: BpeModelJson;
  [key: string]: unknown;
}

export interface ExtendedVocab {
  /** The base tokenizer.json with the vocabulary and merges extended. */
  tokenizerJson: TokenizerJson;
  /** The tokens added, in id order (the first has id firstNewId). */
  added: string[];
  firstNewId: number;
  /** Pieces of the new tokenizer the base already had. */
  alreadyPresent: number;
}

function usesByteLevel(json: TokenizerJson): boolean {
  const pre = json.pre_tokenizer;
  if (!pre) return false;
  if (pre.type === 'ByteLevel') return true;
  return pre.type === 'Sequence' && (pre.pretokenizers ?? []).some((p) => p.type === 'ByteLevel');
}

type BaseKind = 'byte-level' | 'sentencepiece';

/** A SentencePiece-converted BPE (Llama 2, Mistral, Baichuan, Yi): "▁" for spaces, pieces of characters. */
function usesMetaspace(json: TokenizerJson): boolean {
  const text = JSON.stringify([json.normalizer ?? null, json.pre_tokenizer ?? null]);
  return text.includes('"Metaspace"') || text.includes('"content":"▁"');
}

function bpeModel(json: TokenizerJson, what: string, allowed: readonly BaseKind[]) {
  const model = json.model;
  if (model?.type !== 'BPE' || !model.vocab || !model.merges)
    throw new TokenizerError(
      `${what}: tokenizer.json must hold a BPE model with vocab and merges (got ${model?.type})`,
    );
  let kind: BaseKind | null = null;
  if (usesByteLevel(json) && !model.byte_fallback) kind = 'byte-level';
  else if (usesMetaspace(json)) kind = 'sentencepiece';
  if (kind === null || !allowed.includes(kind))
    throw new TokenizerError(
      `${what}: only byte-level BPE tokenizers (GPT-2, Llama-3, Qwen style, ByteLevel pre-tokenizer)` +
        (allowed.includes('sentencepiece') ? ' and SentencePiece-style BPE ones (Llama 2, Mistral: "▁" pieces)' : '') +
        ' can be extended here',
    );
  return { vocab: model.vocab, merges: model.merges, kind };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A byte-level piece as a SentencePiece piece: its bytes as text with spaces written "▁"; null for pieces that end
 * inside a character or hold other whitespace (SentencePiece keeps those as byte tokens).
 */
function sentencePiece(token: string): string | null {
  const bytes = tokenToBytes(token);
  if (bytes === null) return null;
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return null;
  }
  return /[^\S ]/u.test(text) ? null : text.replaceAll(' ', '▁');
}

function asPair(merge: string | Merge): Merge {
  if (Array.isArray(merge)) return merge;
  const space = merge.indexOf(' ');
  return [merge.slice(0, space), merge.slice(space + 1)];
}

/** BPE over one pre-token with a growing merge table: the lowest-ranked adjacent pair merges first, leftmost first. */
class MergeTable {
  private readonly ranks = new Map<string, number>();
  readonly merges: Merge[] = [];

  constructor(merges: readonly Merge[]) {
    for (const m of merges) this.add(m);
  }

  private key(a: string, b: string): string {
    return `${a}\u0000${b}`;
  }

  has(a: string, b: string): boolean {
    return this.ranks.has(this.key(a, b));
  }

  add([a, b]: Merge): void {
    if (this.has(a, b)) return;
    this.ranks.set(this.key(a, b), this.merges.length);
    this.merges.push([a, b]);
  }

  /** The pieces the current table splits `token` (a string of byte characters) into. */
  segment(token: string): string[] {
    const parts = [...token];
    for (;;) {
      let best = -1;
      let bestRank = Number.POSITIVE_INFINITY;
      for (let i = 0; i + 1 < parts.length; i++) {
        const rank = this.ranks.get(this.key(parts[i] as string, parts[i + 1] as string));
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) return parts;
      parts.splice(best, 2, (parts[best] as string) + (parts[best + 1] as string));
    }
  }
}

/** A SentencePiece piece ("▁" for spaces) as byte-level characters. */
function byteLevelPiece(piece: string): string {
  return bytesToToken(new TextEncoder().encode(piece.replaceAll('▁', ' ')));
}

/** How a piece of the new tokenizer is written in the base's alphabet (null: it has no piece there). */
function pieceConverter(from: BaseKind, to: BaseKind): (piece: string) => string | null {
  if (from === to) return (piece) => piece;
  return to === 'sentencepiece' ? sentencePiece : byteLevelPiece;
}

/**
 * Extends `base` (a parsed tokenizer.json) with the pieces of `extra` (a byte-level or SentencePiece-style BPE), in
 * the order `extra` learned them. A SentencePiece-style base gets them as character pieces ("▁" for a space); characters it lacks
 * (until now byte-fallback tokens) become tokens first.
 */
export function extendBpeVocab(base: TokenizerJson, extra: TokenizerJson): ExtendedVocab {
  const baseModel = bpeModel(base, 'the model tokenizer', ['byte-level', 'sentencepiece']);
  const extraModel = bpeModel(extra, 'the new tokenizer', ['byte-level', 'sentencepiece']);
  const byteLevel = baseModel.kind === 'byte-level';
  const toBase = pieceConverter(extraModel.kind, baseModel.kind);
  const vocab = new Map(Object.entries(baseModel.vocab));
  // HF's library numbers an added token that the model vocabulary lacks from the vocabulary's size, so once new
  // tokens follow them, the added tokens (<|im_end|>, Llama-3's reserved ones) must be in the vocabulary to keep ids.
  for (const t of base.added_tokens ?? []) if (!vocab.has(t.content)) vocab.set(t.content, t.id);
  const firstNewId = [...vocab.values()].reduce((a, b) => Math.max(a, b), -1) + 1;
  const table = new MergeTable(baseModel.merges.map(asPair));
  const added: string[] = [];
  const addToken = (token: string) => {
    if (vocab.has(token)) return;
    vocab.set(token, firstNewId + added.length);
    added.push(token);
  };
  // Byte tokens the base lacks (a base trained without the full alphabet) come first: every merge needs its parts.
  if (byteLevel) for (const ch of BYTE_TO_CHAR) addToken(ch);
  let alreadyPresent = 0;
  for (const [l, r] of extraModel.merges.map(asPair)) {
    const token = toBase(l + r);
    if (token === null) continue;
    if (vocab.has(token)) {
      alreadyPresent++;
      continue;
    }
    if (!byteLevel) for (const ch of token) addToken(ch);
    if ([...token].length === 1) continue;
    const [left, right] = [toBase(l), toBase(r)];
    const direct =
      left !== null &&
      right !== null &&
      table.segment(left).length === 1 &&
      table.segment(right).length === 1 &&
      vocab.has(left) &&
      vocab.has(right);
    const pieces = direct ? [left, right] : table.segment(token);
    let acc = pieces[0] as string;
    for (const piece of pieces.slice(1)) {
      addToken(acc + piece);
      table.add([acc, piece]);
      acc += piece;
    }
  }
  const model = { ...(base.model as BpeModelJson) };
  model.vocab = Object.fromEntries(vocab);
  // Keep the base's merge spelling ("a b" strings or [a, b] pairs) so its own readers still agree.
  const pairStyle = baseModel.merges.length === 0 || Array.isArray(baseModel.merges[0]);
  model.merges = table.merges.map((m) => (pairStyle ? m : `${m[0]} ${m[1]}`));
  return { tokenizerJson: { ...base, model }, added, firstNewId, alreadyPresent };
}
