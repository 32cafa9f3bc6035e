/** The distributed sampler's split of a global micro-batch (no MPI needed). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataOrder } from '../../src/train/data-order.js';
import { rankSlices } from '../../src/train/rank-shard.js';

test('each rank takes its per-device slice; a short batch is topped up by wrapping round', () => {
  assert.deepEqual(rankSlices([4, 9, 1, 7], 2, 2), [
    [4, 9],
    [1, 7],
  ]);
  assert.deepEqual(rankSlices([4, 9, 1], 2, 2), [[4, 9], [1]]);
  assert.deepEqual(rankSlices([5], 3, 1), [[5], [5], [5]]);
  assert.deepEqual(rankSlices([3, 8], 1, 2), [[3, 8]]);
});

test("2 ranks of batch 2 see exactly one process's batch-4 micro-batches, in the same order", () => {
  const one = new DataOrder(10, 4, 2, 7, true);
  for (let step = 0; step < 4; step++)
    for (const mb of one.update(step).microBatches) {
      const [r0, r1] = rankSlices(mb, 2, 2);
      assert.deepEqual([...(r0 ?? []), ...(r1 ?? [])].slice(0, mb.length), mb);
    }
});
