/**
 * A counter-based random stream: (seed, offset) names a position in the Philox4x32-10 word stream of `seed`
 * (native/src/core/philox.h). Each random op reserves the words it reads, so a run is reproducible from the seed
 * alone, any op can be replayed from the (seed, offset) it was given (dropout's backward does), and saving
 * `state()` in a checkpoint resumes the exact stream.
 */

/** A generator's position: JSON-serialisable (both are integers below 2^53). */
export interface GeneratorState {
  seed: number;
  offset: number;
}

const WORDS_PER_BLOCK = 4;

export class Generator {
  private seedValue: number;
  private offsetValue: number;

  constructor(seed: number, offset = 0) {
    this.seedValue = checkCounter('seed', seed);
    this.offsetValue = checkCounter('offset', offset);
  }

  static fromState(state: GeneratorState): Generator {
    return new Generator(state.seed, state.offset);
  }

  get seed(): number {
    return this.seedValue;
  }

  /** The next unreserved word of the stream. */
  get offset(): number {
    return this.offsetValue;
  }

  /**
   * Reserves `words` consecutive 32-bit words and returns the index of the first. Reservations start on a Philox
   * block boundary, so consecutive ops never share a block.
   */
  reserve(words: number): number {
    if (!Number.isInteger(words) || words < 0)
      throw new Error(`Generator.reserve: words must be an integer >= 0, got ${words}`);
    const start = this.offsetValue;
    const next = start + Math.ceil(words / WORDS_PER_BLOCK) * WORDS_PER_BLOCK;
    if (!Number.isSafeInteger(next))
      throw new Error(`Generator: the stream of seed ${this.seedValue} is exhausted (offset past 2^53); reseed it`);
    this.offsetValue = next;
    return start;
  }

  state(): GeneratorState {
    return { seed: this.seedValue, offset: this.offsetValue };
  }

  setState(state: GeneratorState): void {
    this.seedValue = checkCounter('seed', state.seed);
    this.offsetValue = checkCounter('offset', state.offset);
  }

  /** Restarts the stream of a new seed. */
  manualSeed(seed: number): this {
    this.setState({ seed, offset: 0 });
    return this;
  }
}

function checkCounter(what: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new Error(`Generator: ${what} must be an integer in [0, 2^53), got ${v}`);
  return v;
}
