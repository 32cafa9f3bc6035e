/**
 * A small seeded generator for the data pipeline (sampling, interleaving, splitting). Results are reproducible for
 * a given seed across runs and machines; they are not numpy's streams, so orders differ from LLaMA-Factory's.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    // splitmix32 scramble so nearby seeds give unrelated streams
    let z = (seed | 0) + 0x9e3779b9;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    this.state = (z ^ (z >>> 16)) >>> 0;
  }

  /** mulberry32: next 32-bit unsigned integer */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** uniform in [0, 1) with 53 random bits */
  next(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** uniform integer in [0, n) without modulo bias */
  int(n: number): number {
    if (!(n > 0)) throw new RangeError(`SeededRandom.int needs n > 0, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** a random permutation of 0..n-1 (Fisher–Yates) */
  permutation(n: number): number[] {
    const out = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = out[i] as number;
      out[i] = out[j] as number;
      out[j] = t;
    }
    return out;
  }

  /** an index drawn with the given probabilities (which sum to 1) */
  choice(probabilities: readonly number[]): number {
    const u = this.next();
    let acc = 0;
    for (let i = 0; i < probabilities.length; i++) {
      acc += probabilities[i] as number;
      if (u < acc) return i;
    }
    // rounding left u above the last cumulative sum: take the last index with non-zero probability
    for (let i = probabilities.length - 1; i >= 0; i--) if ((probabilities[i] as number) > 0) return i;
    return probabilities.length - 1;
  }
}
