import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fsum, numpyMean, pythonRound } from '../../src/eval/python-math.js';

// Written by CPython and numpy (tests/fixtures/python-math/generate.py).
const vectors = JSON.parse(readFileSync(new URL('../fixtures/python-math/vectors.json', import.meta.url), 'utf8')) as {
  round4: [number, number][];
  fsum: [number[], number][];
  mean: [number[], number][];
};

test('pythonRound(x, 4) equals CPython round(x, 4), ties to even included', () => {
  for (const [x, expected] of vectors.round4) assert.equal(pythonRound(x, 4), expected, `round(${x}, 4)`);
  assert.equal(pythonRound(0.03125, 4), 0.0312); // an exact tie: even digit kept
  assert.equal(pythonRound(0.09375, 4), 0.0938); // an exact tie: odd digit rounds up
  assert.equal(pythonRound(-0.03125, 4), -0.0312);
});

test('fsum equals math.fsum', () => {
  for (const [xs, expected] of vectors.fsum) assert.equal(fsum(xs), expected, JSON.stringify(xs));
  assert.equal(fsum([0.1, 0.1, 0.1]), 0.30000000000000004);
  assert.equal(fsum([1e100, 1, -1e100]), 1);
});

test('numpyMean equals float(np.mean(np.array(xs))) with its pairwise summation', () => {
  for (const [xs, expected] of vectors.mean) assert.equal(numpyMean(xs), expected, `n = ${xs.length}`);
});
