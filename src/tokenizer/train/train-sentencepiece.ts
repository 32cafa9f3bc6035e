/**
 * SentencePiece-style BPE training (Llama 2 / Baichuan / Yi style): spaces become "▁" and every word starts with
 * one (the dummy prefix), pieces are characters merged by the native trainer, characters outside
 * `characterCoverage` of the text and whitespace other than spaces are left to byte fallback (<0x..> pieces).
 * The result is a ModelProto: <unk>, <s>, </s>, the 256 byte pieces, the merged pieces (score -k for the k-th
 * merge, as SentencePiece's BPE scores them), the kept characters, then the special tokens as control pieces.
 */
import { learnBpeMerges, type SymbolWords } from '../../engine/bpe-merges.js';
import { TokenizerError } from '../errors.js';
import { MODEL_TYPE, type ModelProto, PIECE_TYPE, type SentencePiece } from '../sentencepiece/model-proto.js';

export interface SentencePieceTrainOptions {
  vocabSize: number;
  minFrequency: number;
  /** The share of character occurrences the kept characters cover (SentencePiece's character_coverage). */
  characterCoverage: number;
  /** Control pieces after the vocabulary (besides <unk>, <s>, </s>). */
  specialTokens: readonly string[];
}

const SPACE = '▁';
const RESERVED = ['<unk>', '<s>', '</s>'];

/** "▁word" pieces of a text, as SentencePiece splits it after the dummy prefix. */
function words(text: string): string[] {
  return `${SPACE}${text.replaceAll(' ', SPACE)}`.match(/▁[^▁]*|[^▁]+/g) ?? [];
}

export function trainSentencePieceBpe(texts: Iterable<string>, options: SentencePieceTrainOptions): ModelProto {
  const wordCounts = new Map<string, number>();
  const charCounts = new Map<string, number>();
  for (const text of texts)
    for (const word of words(text)) {
      wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
      for (const ch of word) charCounts.set(ch, (charCounts.get(ch) ?? 0) + 1);
    }
  // Characters by frequency (ties: code point); other whitespace always falls back to bytes, as in Llama's model.
  const chars = [...charCounts.entries()]
    .filter(([ch]) => ch === SPACE || !/\s/u.test(ch))
    .sort((a, b) => b[1] - a[1] || (a[0].codePointAt(0) as number) - (b[0].codePointAt(0) as number));
  const total = chars.reduce((n, [, c]) => n + c, 0);
  const kept: string[] = [];
  let covered = 0;
  for (const [ch, count] of chars) {
    if (kept.length > 0 && covered / total >= options.characterCoverage) break;
    kept.push(ch);
    covered += count;
  }
  const specials = options.specialTokens.filter((t) => !RESERVED.includes(t));
  const fixed = RESERVED.length + 256 + specials.length;
  const maxNew = options.vocabSize - fixed - kept.length;
  if (maxNew < 0)
    throw new TokenizerError(
      `vocab_size ${options.vocabSize} is too small: ${fixed} reserved, byte and special pieces and ${kept.length} ` +
        `characters (character_coverage ${options.characterCoverage}) need ${fixed + kept.length}`,
    );
  const symbolOf = new Map(kept.map((ch, i) => [ch, i]));
  // Words split at characters that are not kept: those fall back to bytes and merge with nothing.
  const segments = new Map<string, number>();
  for (const [word, count] of wordCounts) {
    let current = '';
    for (const ch of word) {
      if (symbolOf.has(ch)) current += ch;
      else {
        if (current) segments.set(current, (segments.get(current) ?? 0) + count);
        current = '';
      }
    }
    if (current) segments.set(current, (segments.get(current) ?? 0) + count);
  }
  let length = 0;
  for (const s of segments.keys()) length += [...s].length;
  const symbolWords: SymbolWords = {
    symbols: new Int32Array(length),
    offsets: new Int32Array(segments.size + 1),
    counts: new Float64Array(segments.size),
  };
  let at = 0;
  let w = 0;
  for (const [segment, count] of segments) {
    for (const ch of segment) symbolWords.symbols[at++] = symbolOf.get(ch) as number;
    symbolWords.counts[w] = count;
    symbolWords.offsets[++w] = at;
  }
  const learned = learnBpeMerges(symbolWords, kept.length, maxNew, options.minFrequency);
  const strings = [...kept];
  const merged: SentencePiece[] = [];
  for (let k = 0; k < learned.ids.length; k++) {
    if (learned.ids[k] !== strings.length) continue;
    const piece = (strings[learned.left[k] as number] as string) + (strings[learned.right[k] as number] as string);
    strings.push(piece);
    merged.push({ piece, score: -merged.length, type: PIECE_TYPE.NORMAL });
  }
  const hex = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
  const pieces: SentencePiece[] = [
    { piece: '<unk>', score: 0, type: PIECE_TYPE.UNKNOWN },
    { piece: '<s>', score: 0, type: PIECE_TYPE.CONTROL },
    { piece: '</s>', score: 0, type: PIECE_TYPE.CONTROL },
    ...Array.from({ length: 256 }, (_, b) => ({ piece: hex(b), score: 0, type: PIECE_TYPE.BYTE })),
    ...merged,
    ...kept.map((piece, i) => ({ piece, score: -(merged.length + i), type: PIECE_TYPE.NORMAL })),
    ...specials.map((piece) => ({ piece, score: 0, type: PIECE_TYPE.CONTROL })),
  ];
  return {
    pieces,
    modelType: MODEL_TYPE.BPE,
    byteFallback: true,
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: -1,
    addDummyPrefix: true,
    removeExtraWhitespaces: false,
    precompiledCharsmap: new Uint8Array(0),
  };
}
