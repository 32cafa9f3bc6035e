/** BPE merge learning in the native addon (native/src/text/bpe_train.cc): the hot loop of tokenizer training. */
import { native } from './native.js';

/** Unique words as symbol sequences: word w is symbols[offsets[w] .. offsets[w + 1]) and occurs counts[w] times. */
export interface SymbolWords {
  symbols: Int32Array;
  /** [nWords + 1] */
  offsets: Int32Array;
  /** [nWords] */
  counts: Float64Array;
}

/**
 * Merge k joins left[k] and right[k] into symbol ids[k] (firstNewId onwards; a merge that rebuilds an earlier
 * symbol's bytes reuses its id); counts[k] is how often the pair occurred when it was chosen.
 */
export interface LearnedMerges {
  left: Int32Array;
  right: Int32Array;
  ids: Int32Array;
  counts: Float64Array;
}

/**
 * Learns merges until `maxNewSymbols` new symbols exist, most frequent pair first (ties: the smaller (left, right) ids, as HF's trainer),
 * stopping early when no pair occurs `minFrequency` times.
 */
export function learnBpeMerges(
  words: SymbolWords,
  firstNewId: number,
  maxNewSymbols: number,
  minFrequency: number,
): LearnedMerges {
  return native.bpeTrain(words.symbols, words.offsets, words.counts, firstNewId, maxNewSymbols, minFrequency);
}
