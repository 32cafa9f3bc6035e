/**
 * `lmforge data stats`'s token-length histogram. The bins span the lengths observed (shortest..longest record), not
 * 1..cutoff_len: with a budget far above the records (2048 against records of 40-120 tokens) every record landed in
 * the first bin and the chart said nothing.
 */
import { maxOf, minOf } from '../util/arrays.js';

const BINS = 10;
const BAR_WIDTH = 40;

export function lengthHistogram(lengths: readonly number[]): string[] {
  if (lengths.length === 0) return ['(no records)'];
  const lo = minOf(lengths);
  const hi = maxOf(lengths);
  const bins = Math.min(BINS, hi - lo + 1);
  const width = Math.ceil((hi - lo + 1) / bins);
  // ceil can leave the last bins past hi (e.g. 11 values in 10 bins of 2): keep only those that hold a length.
  const used = Math.ceil((hi - lo + 1) / width);
  const counts = new Array<number>(used).fill(0);
  for (const n of lengths) counts[Math.floor((n - lo) / width)]! += 1;
  const top = maxOf(counts);
  const labels = counts.map((_, b) => {
    const from = lo + b * width;
    const to = Math.min(hi, from + width - 1);
    return from === to ? `${from}` : `${from}-${to}`;
  });
  const labelWidth = labels.reduce((w, l) => Math.max(w, l.length), 0);
  return counts.map(
    (c, b) =>
      `${(labels[b] as string).padStart(labelWidth)} | ${'#'.repeat(Math.round((c / top) * BAR_WIDTH)).padEnd(BAR_WIDTH)} ${c}`,
  );
}
