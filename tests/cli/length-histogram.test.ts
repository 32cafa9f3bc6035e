import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lengthHistogram } from '../../src/cli/length-histogram.js';

const countsOf = (lines: string[]) => lines.map((l) => Number(l.trim().split(/\s+/).at(-1)));
const rangesOf = (lines: string[]) => lines.map((l) => (l.split('|')[0] as string).trim());

test('the bins span the observed lengths, not 1..cutoff_len', () => {
  const lengths = [40, 41, 55, 60, 77, 80, 99, 120, 120, 121];
  const lines = lengthHistogram(lengths);
  assert.equal(lines.length, 10);
  assert.equal(rangesOf(lines)[0], '40-48');
  assert.equal(rangesOf(lines).at(-1), '121');
  assert.deepEqual(countsOf(lines), [2, 1, 1, 0, 2, 0, 1, 0, 2, 1]);
  assert.equal(
    countsOf(lines).reduce((a, b) => a + b, 0),
    lengths.length,
  );
});

test('few distinct lengths get one bin each; no records say so', () => {
  const lines = lengthHistogram([7, 9, 9, 8]);
  assert.deepEqual(rangesOf(lines), ['7', '8', '9']);
  assert.deepEqual(countsOf(lines), [1, 1, 2]);
  assert.deepEqual(rangesOf(lengthHistogram([5, 5])), ['5']);
  assert.deepEqual(lengthHistogram([]), ['(no records)']);
});
