/**
 * GPT-2's byte-level scheme as HF's `ByteLevel` pre-tokenizer runs it: text splits by GPT-2's regex, and each
 * UTF-8 byte of a piece is written as one printable character (printable bytes stand for themselves, the rest
 * move to U+0100 onwards), so a vocabulary of strings covers every byte sequence.
 */

/** The split pattern of HF's ByteLevel pre-tokenizer with use_regex (GPT-2's). */
export const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

function isPrintable(b: number): boolean {
  return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

/** byte -> its character in the vocabulary. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(isPrintable(b) ? b : 256 + shifted++));
  return out;
})();

/** character -> byte, the inverse of BYTE_TO_CHAR. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** The vocabulary string of a byte sequence. */
export function bytesToToken(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += BYTE_TO_CHAR[b];
  return s;
}

/** The bytes a vocabulary string stands for; null when it holds a character outside the byte alphabet. */
export function tokenToBytes(token: string): Uint8Array | null {
  const out: number[] = [];
  for (const ch of token) {
    const b = CHAR_TO_BYTE.get(ch);
    if (b === undefined) return null;
    out.push(b);
  }
  return Uint8Array.from(out);
}

/** Adds every pre-token of `text` to `counts` (pre-token -> occurrences). */
export function countPreTokens(text: string, counts: Map<string, number>): void {
  for (const m of text.matchAll(GPT2_SPLIT)) {
    const piece = m[0];
    counts.set(piece, (counts.get(piece) ?? 0) + 1);
  }
}
