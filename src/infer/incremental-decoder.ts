/**
 * Turns generated token ids into text pieces as they arrive, emitting only text that later tokens cannot change
 * (HF's TextIteratorStreamer idea, made exact):
 * - a byte-level BPE token may hold part of a UTF-8 character: the decoded text then ends in U+FFFD until the
 *   rest arrives, so a trailing U+FFFD run is held back;
 * - decoders may rewrite text around a space (SentencePiece's leading space, `clean_up_tokenization_spaces`
 *   turning " ." into "." or " n't" into "n't"), so the last space and what follows it are held back, except that
 *   a line end or a CJK character (never rewritten) releases everything before it.
 * The whole generated sequence is decoded at every step (decoders are not prefix-stable token by token), so the
 * pieces concatenate exactly to `decode(all tokens)`.
 */
export class IncrementalDecoder {
  private readonly ids: number[] = [];
  private printed = '';

  constructor(private readonly decode: (ids: readonly number[]) => string) {}

  /** Adds one token; returns the newly stable text ('' while it is still open). */
  push(id: number): string {
    this.ids.push(id);
    const text = this.decode(this.ids);
    const stable = stablePrefixLength(text);
    return this.emitUpTo(text, stable);
  }

  /** Everything not emitted yet, once generation has ended. */
  flush(): string {
    const text = this.decode(this.ids);
    return this.emitUpTo(text, text.length);
  }

  /** The text emitted so far. */
  get text(): string {
    return this.printed;
  }

  private emitUpTo(text: string, end: number): string {
    if (end <= this.printed.length || !text.startsWith(this.printed)) return '';
    const piece = text.slice(this.printed.length, end);
    this.printed += piece;
    return piece;
  }
}

/** Length of the part of `text` no later token can rewrite (see the class comment). */
function stablePrefixLength(text: string): number {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0xfffd) end--;
  if (end === 0) return 0;
  const last = text.codePointAt(end - 1 - (isLowSurrogate(text.charCodeAt(end - 1)) ? 1 : 0)) as number;
  if (last === 0x0a || isCjk(last)) return end;
  const space = text.lastIndexOf(' ', end - 1);
  const newline = text.lastIndexOf('\n', end - 1);
  // Text up to a newline is final; after it, hold back from the last space on.
  return Math.max(newline + 1, space < 0 ? 0 : space);
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** The CJK Unified Ideographs blocks HF's streamer treats as words of their own. */
function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f) ||
    (cp >= 0x3000 && cp <= 0x303f) ||
    (cp >= 0xff00 && cp <= 0xffef)
  );
}
