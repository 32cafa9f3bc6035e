/**
 * LLaMA-Factory's processor_utils: how a prompt/response pair is cut to a length budget, and how sequences are
 * packed into fixed-size bins.
 */

/**
 * The lengths a (source, target) pair keeps under `cutoffLen`. A short target keeps all of itself and the source
 * is cut; a short source is kept and the target cut; otherwise both are cut in proportion (integer floor of the
 * target's share, as Python's int()).
 */
export function inferSeqlen(sourceLen: number, targetLen: number, cutoffLen: number): [number, number] {
  let maxTargetLen: number;
  if (targetLen * 2 < cutoffLen) maxTargetLen = cutoffLen;
  else if (sourceLen * 2 < cutoffLen) maxTargetLen = cutoffLen - sourceLen;
  else maxTargetLen = Math.trunc(cutoffLen * (targetLen / (sourceLen + targetLen)));
  const newTargetLen = Math.min(maxTargetLen, targetLen);
  const maxSourceLen = Math.max(cutoffLen - newTargetLen, 0);
  const newSourceLen = Math.min(maxSourceLen, sourceLen);
  return [newSourceLen, newTargetLen];
}

/** Index of the largest number <= capacity in an ascending list (Python's bisect_right - 1), or -1. */
export function searchForFit(sorted: readonly number[], capacity: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (capacity < sorted[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo - 1;
}

/**
 * Greedy first-fit-decreasing-by-search packing: each bin repeatedly takes the largest remaining length that
 * still fits. Returns the bins as lists of lengths in the order they were taken (upstream's greedy_knapsack).
 */
export function greedyKnapsack(lengths: readonly number[], capacity: number): number[][] {
  const numbers = [...lengths].sort((a, b) => a - b);
  const knapsacks: number[][] = [];
  while (numbers.length > 0) {
    const current: number[] = [];
    let remaining = capacity;
    for (;;) {
      const index = searchForFit(numbers, remaining);
      if (index === -1) break;
      remaining -= numbers[index]!;
      current.push(numbers.splice(index, 1)[0]!);
    }
    // A length above capacity can never fit; upstream would loop forever, callers drop such sequences first.
    if (current.length === 0)
      throw new RangeError(`a sequence of length ${numbers[0]} exceeds the bin size ${capacity}`);
    knapsacks.push(current);
  }
  return knapsacks;
}
