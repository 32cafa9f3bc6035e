/**
 * The per-token step generate() and the scheduler share: processors rewrite a copy of the scores before the pick,
 * the scores are consumed, and a row ends on a stop id (kept), on onToken's false, or at max new tokens.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { liveBytes, Tensor } from '../../src/engine/index.js';
import { appendToken, type DecodeRow, pickTokens } from '../../src/infer/decode-step.js';

const GREEDY = { doSample: false, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };

test('pickTokens: greedy picks from the processed copy of each row, and frees the scores', () => {
  const before = liveBytes();
  const scores = Tensor.from(Float32Array.of(0, 5, 1, 2, 9, 3, 7, 1), [2, 4]);
  const seen: number[][] = [];
  const ids = pickTokens(scores, [[1], [2]], new Float32Array(2), GREEDY, (logits) => {
    seen.push([...logits]);
    logits[1] = -100; // row 0's best goes
    logits[4 + 0] = 50; // row 1's first id wins
  });
  assert.deepEqual([...ids], [3, 0]);
  assert.deepEqual(seen, [[0, 5, 1, 2, 9, 3, 7, 1]]);
  assert.equal(liveBytes(), before, 'scores and the rewritten copy are disposed');
  const plain = pickTokens(Tensor.from(Float32Array.of(0, 5, 1, 2), [1, 4]), [[0]], new Float32Array(1), GREEDY);
  assert.deepEqual([...plain], [1]);
  // HF's repetition penalty over the row's history: 5 / 10 < 2 at id 3.
  const penalised = pickTokens(Tensor.from(Float32Array.of(0, 5, 1, 2), [1, 4]), [[1]], new Float32Array(1), {
    ...GREEDY,
    repetitionPenalty: 10,
  });
  assert.deepEqual([...penalised], [3]);
});

test('appendToken: stop ids end the row and stay in it; onToken false ends it; max new tokens is length', () => {
  const row: DecodeRow = { history: [7, 8], tokens: [] };
  const told: number[] = [];
  const stop = new Set([2]);
  assert.equal(
    appendToken(row, 5, stop, 3, (id) => told.push(id)),
    null,
  );
  assert.equal(appendToken(row, 2, stop, 3), 'stop');
  assert.deepEqual(row, { history: [7, 8, 5, 2], tokens: [5, 2] });
  assert.deepEqual(told, [5]);
  const other: DecodeRow = { history: [1], tokens: [] };
  assert.equal(
    appendToken(other, 4, stop, 5, () => false),
    'stop',
  );
  assert.equal(
    appendToken(other, 4, stop, 2, () => undefined),
    'length',
  );
  assert.throws(
    () =>
      appendToken(other, 4, stop, 9, () => {
        throw new Error('sink failed');
      }),
    /sink failed/,
  );
});
