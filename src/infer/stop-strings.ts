/**
 * Stop strings over streamed text. A stop string can arrive split over several pieces ("###" as "#", "##"), so the
 * filter holds back the longest tail of the text that could still begin a stop string and releases it once it
 * cannot. The text before the first stop string is emitted; the stop string and everything after it never are.
 */
export interface StopCheck {
  /** Text that is safe to show now. */
  text: string;
  /** A stop string was found: generation should end, and nothing more is emitted. */
  stopped: boolean;
}

export class StopStringFilter {
  private readonly stops: string[];
  private pending = '';
  private done = false;

  constructor(stops: readonly string[] = []) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  /** Adds one piece of generated text. After a stop, further pieces are ignored. */
  push(piece: string): StopCheck {
    if (this.done) return { text: '', stopped: true };
    this.pending += piece;
    const at = firstStop(this.pending, this.stops);
    if (at >= 0) {
      this.done = true;
      const text = this.pending.slice(0, at);
      this.pending = '';
      return { text, stopped: true };
    }
    const hold = longestPrefixTail(this.pending, this.stops);
    const text = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return { text, stopped: false };
  }

  /** Generation ended without a stop string: what was held back is part of the answer after all. */
  flush(): string {
    const text = this.done ? '' : this.pending;
    this.pending = '';
    return text;
  }
}

/** `text` cut before its first stop string, and whether one was found. */
export function truncateAtStop(text: string, stops: readonly string[] = []): StopCheck {
  const at = firstStop(
    text,
    stops.filter((s) => s.length > 0),
  );
  return at >= 0 ? { text: text.slice(0, at), stopped: true } : { text, stopped: false };
}

function firstStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** Length of the longest tail of `text` that is a proper prefix of some stop string. */
function longestPrefixTail(text: string, stops: readonly string[]): number {
  let best = 0;
  for (const s of stops) {
    for (let len = Math.min(s.length - 1, text.length); len > best; len--) {
      if (text.endsWith(s.slice(0, len))) {
        best = len;
        break;
      }
    }
  }
  return best;
}
