/**
 * Merging several datasets (LLaMA-Factory's `mix_strategy`) and holding out a validation split (`val_size`), with
 * the semantics of HF datasets' `concatenate_datasets`, `interleave_datasets` and `train_test_split`. Random
 * choices come from a seeded generator, so orders are reproducible (but are not numpy's).
 */
import { SeededRandom } from './random.js';

export type MixStrategy = 'concat' | 'interleave_under' | 'interleave_over';

/**
 * The order in which interleaving takes records, as [dataset, index] pairs.
 * - no probabilities: round robin; `first_exhausted` stops after min(len) rounds, `all_exhausted` runs max(len)
 *   rounds and wraps the shorter datasets around;
 * - probabilities: each step draws a dataset; a dataset that runs out starts over; stop as soon as one dataset
 *   (`first_exhausted`) or every dataset (`all_exhausted`) has been used up at least once — the record that
 *   exhausts it is included.
 */
export function interleaveOrder(
  lengths: readonly number[],
  probabilities: readonly number[] | null,
  seed: number,
  stopping: 'first_exhausted' | 'all_exhausted',
): [number, number][] {
  const k = lengths.length;
  const order: [number, number][] = [];
  if (lengths.some((n) => n === 0)) {
    if (stopping === 'first_exhausted') return order;
    throw new RangeError('interleave_over cannot oversample an empty dataset');
  }
  if (probabilities === null) {
    const rounds = stopping === 'first_exhausted' ? Math.min(...lengths) : Math.max(...lengths);
    for (let r = 0; r < rounds; r++) for (let d = 0; d < k; d++) order.push([d, r % (lengths[d] as number)]);
    return order;
  }
  const rng = new SeededRandom(seed);
  const current = new Array<number>(k).fill(0);
  const exhausted = new Array<boolean>(k).fill(false);
  const done = () => (stopping === 'all_exhausted' ? exhausted.every(Boolean) : exhausted.some(Boolean));
  while (!done()) {
    const d = rng.choice(probabilities);
    order.push([d, current[d] as number]);
    current[d] = (current[d] as number) + 1;
    if ((current[d] as number) >= (lengths[d] as number)) {
      exhausted[d] = true;
      current[d] = 0;
    }
  }
  return order;
}

export function mergeDatasets<T>(
  datasets: readonly T[][],
  strategy: MixStrategy,
  probabilities: readonly number[] | null,
  seed: number,
): T[] {
  if (datasets.length === 1) return [...(datasets[0] as T[])];
  if (strategy === 'concat') return datasets.flat();
  const stopping = strategy === 'interleave_under' ? 'first_exhausted' : 'all_exhausted';
  const order = interleaveOrder(
    datasets.map((d) => d.length),
    probabilities,
    seed,
    stopping,
  );
  return order.map(([d, i]) => (datasets[d] as T[])[i] as T);
}

/**
 * HF `train_test_split(test_size=val_size, seed)`: a fraction takes ceil(val_size * n) records, a count takes
 * exactly that many; both sets come from one seeded permutation (the validation set is its head).
 */
export function splitTrainVal<T>(data: readonly T[], valSize: number, seed: number): { train: T[]; validation: T[] } {
  const n = data.length;
  const nTest = valSize < 1 ? Math.ceil(valSize * n) : Math.floor(valSize);
  const nTrain = n - nTest;
  if (nTest <= 0 || nTrain <= 0) {
    throw new RangeError(
      `val_size ${valSize} with ${n} examples leaves the ${nTest <= 0 ? 'validation' : 'training'} set empty; ` +
        'use a fraction in (0, 1) or a count between 1 and the number of examples minus one.',
    );
  }
  const perm = new SeededRandom(seed).permutation(n);
  return {
    validation: perm.slice(0, nTest).map((i) => data[i] as T),
    train: perm.slice(nTest).map((i) => data[i] as T),
  };
}
