/**
 * The bytes each vocabulary id stands for, computed once per tokenizer: what a grammar matches tokens against and
 * what OpenAI's logprobs report (`bytes`). Byte-level BPE tokens (GPT-2's byte-to-unicode alphabet) map back
 * character by character; SentencePiece byte-fallback pieces (`<0xE4>`) are one byte; other tokens are their text as
 * the decoder writes it after another token (so Metaspace's leading space stays). Special added tokens are null:
 * they are never text.
 */
import type { Tokenizer } from '../tokenizer/tokenizer.js';

export interface TokenBytes {
  /** Per id: the token's bytes, or null for special tokens and ids without a token. */
  readonly bytes: readonly (Uint8Array | null)[];
  /** Per id: the token's text (UTF-8 decoding of its bytes; a partial character reads as U+FFFD). */
  readonly text: readonly string[];
}

const NO_CLEANUP = { cleanUpTokenizationSpaces: false };
const cache = new WeakMap<Tokenizer, TokenBytes>();

export function tokenBytes(tokenizer: Tokenizer): TokenBytes {
  let table = cache.get(tokenizer);
  if (!table) {
    table = buildTable(tokenizer);
    cache.set(tokenizer, table);
  }
  return table;
}

/** GPT-2's bytes_to_unicode, inverted: the printable stand-in character -> the byte. */
function unicodeToByte(): Map<string, number> {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (printable.includes(b)) map.set(String.fromCharCode(b), b);
    else map.set(String.fromCharCode(256 + extra++), b);
  }
  return map;
}

function buildTable(tokenizer: Tokenizer): TokenBytes {
  const size = tokenizer.size;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const special = new Set(tokenizer.allSpecialIds);
  for (const [id, info] of tokenizer.addedTokensDecoder) if (info.special) special.add(id);
  const toByte = unicodeToByte();
  // A byte-level decoder turns 'Ġ' into a space; any other decoder leaves it alone.
  const space = tokenizer.tokenToId('Ġ');
  const byteLevel = space !== null && tokenizer.decode([space], NO_CLEANUP) === ' ';
  const anchor = tokenizer.tokenToId('a');
  const anchorText = anchor === null ? '' : tokenizer.decode([anchor], NO_CLEANUP);
  const bytes: (Uint8Array | null)[] = new Array(size).fill(null);
  const text: string[] = new Array(size).fill('');
  for (let id = 0; id < size; id++) {
    if (special.has(id)) continue;
    const token = tokenizer.convertIdsToTokens(id);
    if (token === null) continue;
    let b: Uint8Array;
    const fallback = /^<0x([0-9A-Fa-f]{2})>$/.exec(token);
    if (fallback) b = Uint8Array.of(Number.parseInt(fallback[1] as string, 16));
    else if (byteLevel && [...token].every((c) => toByte.has(c)))
      b = Uint8Array.from([...token], (c) => toByte.get(c)!);
    else {
      const decoded =
        anchor === null
          ? tokenizer.decode([id], NO_CLEANUP)
          : tokenizer.decode([anchor, id], NO_CLEANUP).slice(anchorText.length);
      b = encoder.encode(decoded);
    }
    bytes[id] = b;
    text[id] = decoder.decode(b);
  }
  return { bytes, text };
}
