/**
 * Float64 / BigInt references for the Philox word stream and the random initialisers (tests only). Written from
 * the Philox4x32-10 definition; checked against Random123's known-answer vectors in tests/engine/random.test.ts.
 */
const MASK32 = 0xffffffffn;

/** One Philox4x32-10 block: counter c (4 words) under key k (2 words). */
export function philoxRef(k: readonly [number, number], c: readonly [number, number, number, number]): number[] {
  let [c0, c1, c2, c3] = c.map(BigInt) as [bigint, bigint, bigint, bigint];
  let [k0, k1] = k.map(BigInt) as [bigint, bigint];
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + 0x9e3779b9n) & MASK32;
      k1 = (k1 + 0xbb67ae85n) & MASK32;
    }
    const p0 = 0xd2511f53n * c0;
    const p1 = 0xcd9e8d57n * c2;
    [c0, c1, c2, c3] = [(p1 >> 32n) ^ c1 ^ k0, p1 & MASK32, (p0 >> 32n) ^ c3 ^ k1, p0 & MASK32];
  }
  return [c0, c1, c2, c3].map(Number);
}

/** Word w of seed's stream: lane w % 4 of block w / 4, the block index being the counter {lo32, hi32, 0, 0}. */
export function philoxWordRef(seed: number, w: number): number {
  const key: [number, number] = [seed % 2 ** 32, Math.floor(seed / 2 ** 32)];
  const block = Math.floor(w / 4);
  return philoxRef(key, [block % 2 ** 32, Math.floor(block / 2 ** 32), 0, 0])[w % 4] as number;
}

/** Consecutive words [offset, offset + n), one block computed per 4 words. */
export function philoxWordsRef(seed: number, offset: number, n: number): Float64Array {
  const out = new Float64Array(n);
  let block = -1;
  let words: number[] = [];
  for (let i = 0; i < n; i++) {
    const w = offset + i;
    if (Math.floor(w / 4) !== block) {
      block = Math.floor(w / 4);
      words = philoxRef(
        [seed % 2 ** 32, Math.floor(seed / 2 ** 32)],
        [block % 2 ** 32, Math.floor(block / 2 ** 32), 0, 0],
      );
    }
    out[i] = words[w % 4] as number;
  }
  return out;
}

/** A word's top 24 bits scaled into [0, 1). */
export function unitFromWordRef(word: number): number {
  return Math.floor(word / 256) / 2 ** 24;
}

export function uniformRef(n: number, lo: number, hi: number, seed: number, offset: number): Float64Array {
  return philoxWordsRef(seed, offset, n).map((w) => lo + (hi - lo) * unitFromWordRef(w));
}

/** Box-Muller over words (offset + 2i, offset + 2i + 1). */
export function normalRef(n: number, mean: number, std: number, seed: number, offset: number): Float64Array {
  const words = philoxWordsRef(seed, offset, 2 * n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u1 = ((words[2 * i] as number) + 0.5) / 2 ** 32;
    const u2 = (words[2 * i + 1] as number) / 2 ** 32;
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}
