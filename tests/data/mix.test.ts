import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeDatasets, SeededRandom, splitTrainVal } from '../../src/data/index.js';

const A = ['a0', 'a1', 'a2'];
const B = ['b0', 'b1', 'b2', 'b3', 'b4'];
const C = ['c0', 'c1'];

test('concat keeps dataset order; a single dataset is returned as is', () => {
  assert.deepEqual(mergeDatasets([A, C], 'concat', null, 42), ['a0', 'a1', 'a2', 'c0', 'c1']);
  assert.deepEqual(mergeDatasets([A], 'interleave_over', null, 42), A);
});

test('interleave without probabilities is round robin (HF interleave_datasets)', () => {
  // first_exhausted: min(len) rounds
  assert.deepEqual(mergeDatasets([A, B, C], 'interleave_under', null, 42), ['a0', 'b0', 'c0', 'a1', 'b1', 'c1']);
  // all_exhausted: max(len) rounds, shorter datasets wrap around
  assert.deepEqual(mergeDatasets([A, B, C], 'interleave_over', null, 42), [
    'a0',
    'b0',
    'c0',
    'a1',
    'b1',
    'c1',
    'a2',
    'b2',
    'c0',
    'a0',
    'b3',
    'c1',
    'a1',
    'b4',
    'c0',
  ]);
});

test('interleave with probabilities: seeded draws, exact order for a fixed seed', () => {
  const under = mergeDatasets([A, B, C], 'interleave_under', [0.2, 0.5, 0.3], 42);
  assert.deepEqual(under, ['a0', 'b0', 'b1', 'b2', 'a1', 'b3', 'c0', 'a2']);
  // stops right after the first dataset runs out (a2 is A's last record)
  assert.equal(under.at(-1), 'a2');
  const over = mergeDatasets([A, B, C], 'interleave_over', [0.2, 0.5, 0.3], 42);
  assert.deepEqual(over, ['a0', 'b0', 'b1', 'b2', 'a1', 'b3', 'c0', 'a2', 'b4', 'b0', 'b1', 'b2', 'b3', 'b4', 'c1']);
  // every record of every dataset appears at least once; the last dataset to run out ends it
  for (const x of [...A, ...B, ...C]) assert.ok(over.includes(x), x);
  assert.equal(over.at(-1), 'c1');
  assert.deepEqual(mergeDatasets([A, B, C], 'interleave_over', [0.2, 0.5, 0.3], 42), over);
  assert.notDeepEqual(mergeDatasets([A, B, C], 'interleave_over', [0.2, 0.5, 0.3], 43), over);
  // a zero probability never draws that dataset
  assert.ok(!mergeDatasets([A, B], 'interleave_under', [0, 1], 1).some((x) => x.startsWith('a')));
});

test('val_size: a fraction takes ceil(f * n), a count exactly n; one seeded permutation', () => {
  const d = Array.from({ length: 10 }, (_, i) => i);
  const frac = splitTrainVal(d, 0.25, 42);
  assert.deepEqual(frac, { validation: [6, 2, 5], train: [3, 9, 0, 7, 8, 4, 1] });
  const count = splitTrainVal(d, 2, 42);
  assert.deepEqual(count, { validation: [6, 2], train: [5, 3, 9, 0, 7, 8, 4, 1] });
  assert.deepEqual(
    [...frac.train, ...frac.validation].sort((x, y) => x - y),
    d,
  );
  assert.throws(() => splitTrainVal(d, 10, 42), /leaves the training set empty/);
  assert.throws(() => splitTrainVal([], 0.1, 42), /leaves the validation set empty/);
});

test('SeededRandom: reproducible, uniform enough, permutations are permutations', () => {
  const r1 = new SeededRandom(5);
  const r2 = new SeededRandom(5);
  const xs = Array.from({ length: 2000 }, () => r1.next());
  assert.deepEqual(
    xs,
    Array.from({ length: 2000 }, () => r2.next()),
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.03, `mean ${mean}`);
  const p = new SeededRandom(9).permutation(50);
  assert.deepEqual(
    [...p].sort((x, y) => x - y),
    Array.from({ length: 50 }, (_, i) => i),
  );
});
