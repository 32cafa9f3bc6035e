/**
 * Byte-level BPE training (GPT-2 / Llama-3 / Qwen style): pre-tokens are counted once, then merges are learned in
 * native code over the unique pre-tokens. The result is an HF `tokenizer.json` model: 256 byte tokens (ids = byte
 * values), one token per new merged string, then the special tokens.
 */
import { learnBpeMerges, type SymbolWords } from '../../engine/bpe-merges.js';
import { TokenizerError } from '../errors.js';
import { BYTE_TO_CHAR, countPreTokens } from './byte-level.js';

export interface BpeTrainOptions {
  /** Total ids: 256 bytes + merges + special tokens. */
  vocabSize: number;
  /** A pair is merged only if it occurs at least this often. */
  minFrequency: number;
  /** Added after the merges, in this order, as special tokens. */
  specialTokens: readonly string[];
}

export interface TrainedBpe {
  /** token -> id for the 256 bytes and the merged tokens (special tokens are separate, as in tokenizer.json). */
  vocab: Map<string, number>;
  merges: [string, string][];
  /** How often each merge's pair occurred when it was chosen. */
  mergeCounts: Float64Array;
  specialTokens: { id: number; content: string }[];
  /** Pre-token occurrences and distinct pre-tokens seen. */
  preTokens: number;
  uniquePreTokens: number;
}

/**
 * Internal symbol ids follow the byte characters' code points, as HF's trainer numbers its alphabet, so ties between
 * equally frequent pairs break the same way.
 */
const BYTES_BY_CHAR: readonly number[] = [...Array(256).keys()].sort(
  (a, b) => (BYTE_TO_CHAR[a] as string).codePointAt(0)! - (BYTE_TO_CHAR[b] as string).codePointAt(0)!,
);
const SYMBOL_OF_BYTE: Int32Array = (() => {
  const out = new Int32Array(256);
  BYTES_BY_CHAR.forEach((byte, symbol) => {
    out[byte] = symbol;
  });
  return out;
})();

function symbolWords(counts: Map<string, number>): SymbolWords {
  const encoder = new TextEncoder();
  const encoded: Uint8Array[] = [];
  let total = 0;
  for (const word of counts.keys()) {
    const bytes = encoder.encode(word);
    encoded.push(bytes);
    total += bytes.length;
  }
  const symbols = new Int32Array(total);
  const offsets = new Int32Array(encoded.length + 1);
  const wordCounts = new Float64Array(encoded.length);
  let at = 0;
  let w = 0;
  for (const count of counts.values()) {
    const bytes = encoded[w] as Uint8Array;
    for (let i = 0; i < bytes.length; i++) symbols[at + i] = SYMBOL_OF_BYTE[bytes[i] as number] as number;
    at += bytes.length;
    wordCounts[w] = count;
    offsets[++w] = at;
  }
  return { symbols, offsets, counts: wordCounts };
}

export function trainByteLevelBpe(texts: Iterable<string>, options: BpeTrainOptions): TrainedBpe {
  const specials = [...new Set(options.specialTokens)];
  const maxNewTokens = options.vocabSize - 256 - specials.length;
  if (!Number.isInteger(options.vocabSize) || maxNewTokens < 0)
    throw new TokenizerError(
      `vocab_size ${options.vocabSize} is too small: byte-level BPE needs 256 byte tokens plus ${specials.length} special tokens`,
    );
  const counts = new Map<string, number>();
  for (const text of texts) countPreTokens(text, counts);
  let preTokens = 0;
  for (const c of counts.values()) preTokens += c;

  const learned = learnBpeMerges(symbolWords(counts), 256, maxNewTokens, options.minFrequency);
  // Internal symbol -> token string: the 256 byte characters in code-point order, then one per merge.
  const strings: string[] = BYTES_BY_CHAR.map((b) => BYTE_TO_CHAR[b] as string);
  const vocab = new Map<string, number>();
  for (let b = 0; b < 256; b++) vocab.set(BYTE_TO_CHAR[b] as string, b);
  const merges: [string, string][] = [];
  for (let k = 0; k < learned.left.length; k++) {
    const left = strings[learned.left[k] as number] as string;
    const right = strings[learned.right[k] as number] as string;
    const id = learned.ids[k] as number;
    if (id === strings.length) strings.push(left + right);
    merges.push([left, right]);
    vocab.set(left + right, id);
  }
  const firstSpecial = strings.length;
  return {
    vocab,
    merges,
    mergeCounts: learned.counts,
    specialTokens: specials.map((content, i) => ({ id: firstSpecial + i, content })),
    preTokens,
    uniquePreTokens: counts.size,
  };
}
