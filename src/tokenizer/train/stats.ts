/** Tokens per character and per word of a tokenizer on a text: what a vocabulary extension is meant to lower. */
import type { Tokenizer } from '../tokenizer.js';

export interface TokenStats {
  texts: number;
  tokens: number;
  /** Characters other than whitespace (code points). */
  chars: number;
  /** Whitespace-separated words (a run of Chinese text without spaces is one word). */
  words: number;
  /** Han characters, and the tokens of the Han runs alone (each run encoded by itself). */
  hanChars: number;
  hanTokens: number;
  tokensPerChar: number;
  tokensPerWord: number;
  tokensPerHanChar: number;
}

const HAN_RUN = /\p{Script=Han}+/gu;

function countMatches(text: string, pattern: RegExp): number {
  let n = 0;
  for (const _ of text.matchAll(pattern)) n++;
  return n;
}

/** Tokens of each text, encoded in batches (one await per batch, not per text). */
async function tokenCounts(tokenizer: Tokenizer, texts: readonly string[]): Promise<number> {
  let total = 0;
  for (let i = 0; i < texts.length; i += BATCH) {
    const ids = await tokenizer.encodeBatch(texts.slice(i, i + BATCH), { addSpecialTokens: false });
    for (const row of ids) total += row.length;
  }
  return total;
}

const BATCH = 512;

/** Encodes every text without special tokens and counts; Han runs are encoded on their own too. */
export async function measureTokenizer(tokenizer: Tokenizer, texts: readonly string[]): Promise<TokenStats> {
  let chars = 0;
  let words = 0;
  let hanChars = 0;
  const hanRuns: string[] = [];
  for (const text of texts) {
    chars += countMatches(text, /\S/gu);
    words += countMatches(text, /\S+/gu);
    for (const m of text.matchAll(HAN_RUN)) {
      hanChars += [...m[0]].length;
      hanRuns.push(m[0]);
    }
  }
  const tokens = await tokenCounts(tokenizer, texts);
  const hanTokens = await tokenCounts(tokenizer, hanRuns);
  const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
  return {
    texts: texts.length,
    tokens,
    chars,
    words,
    hanChars,
    hanTokens,
    tokensPerChar: ratio(tokens, chars),
    tokensPerWord: ratio(tokens, words),
    tokensPerHanChar: ratio(hanTokens, hanChars),
  };
}
