/**
 * NLTK's `sentence_bleu(references, hypothesis, smoothing_function=SmoothingFunction().method3)` with the default
 * weights (0.25 x 4), for one reference: clipped n-gram precisions kept as unreduced fractions, the brevity penalty
 * against the reference, NIST geometric smoothing (the k-th order with no match counts 1 / (2^k * its n-gram
 * count)), and the weighted log sum added with math.fsum.
 */
import { fsum } from './python-math.js';

const WEIGHTS = [0.25, 0.25, 0.25, 0.25] as const;

/** Unreduced fraction, as NLTK's `Fraction(..., _normalize=False)`: method3 reads the raw denominator. */
interface Precision {
  numerator: number;
  denominator: number;
}

export function modifiedPrecision(reference: readonly string[], hypothesis: readonly string[], n: number): Precision {
  const counts = ngramCounts(hypothesis, n);
  const refCounts = ngramCounts(reference, n);
  let numerator = 0;
  let total = 0;
  for (const [gram, count] of counts) {
    numerator += Math.min(count, refCounts.get(gram) ?? 0);
    total += count;
  }
  return { numerator, denominator: Math.max(1, total) };
}

export function brevityPenalty(referenceLength: number, hypothesisLength: number): number {
  if (hypothesisLength > referenceLength) return 1;
  if (hypothesisLength === 0) return 0;
  return Math.exp(1 - referenceLength / hypothesisLength);
}

/** BLEU-4 of one hypothesis against one reference, both as token lists (LLaMA-Factory passes characters). */
export function sentenceBleu(reference: readonly string[], hypothesis: readonly string[]): number {
  const precisions = WEIGHTS.map((_, i) => modifiedPrecision(reference, hypothesis, i + 1));
  if (precisions[0]!.numerator === 0) return 0;
  const bp = brevityPenalty(reference.length, hypothesis.length);
  let k = 1;
  const smoothed = precisions.map((p) => {
    if (p.numerator !== 0) return p.numerator / p.denominator;
    return 1 / (2 ** k++ * p.denominator);
  });
  const logs = smoothed.filter((p) => p > 0).map((p, i) => WEIGHTS[i]! * Math.log(p));
  return bp * Math.exp(fsum(logs));
}

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = JSON.stringify(tokens.slice(i, i + n));
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
