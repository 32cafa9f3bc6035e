// Padding as HF's DataCollatorForSeq2Seq with LLaMA-Factory's settings, and the pairwise / KTO batch layouts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collate, collateFeedback, collatePairwise } from '../../src/data/collator.js';
import { IGNORE_INDEX as X } from '../../src/data/processors/index.js';

const a = { input_ids: [5, 6, 7], attention_mask: [1, 1, 1], labels: [X, 6, 7] };
const b = { input_ids: [8], attention_mask: [1], labels: [8] };

test('right padding for training: pad id, attention 0, labels IGNORE_INDEX; pad_to_multiple_of rounds up', () => {
  const batch = collate([a, b], { padTokenId: 0 });
  assert.deepEqual(batch.inputIds.shape, [2, 3]);
  assert.deepEqual([...batch.inputIds.data], [5, 6, 7, 8, 0, 0]);
  assert.deepEqual([...batch.attentionMask.data], [1, 1, 1, 1, 0, 0]);
  assert.deepEqual([...batch.labels.data], [X, 6, 7, 8, X, X]);
  assert.equal(batch.positionIds, undefined);
  const eight = collate([a, b], { padTokenId: 0, padToMultipleOf: 8 });
  assert.deepEqual(eight.inputIds.shape, [2, 8]);
  assert.deepEqual(eight.labels.shape, [2, 8]);
  assert.deepEqual([...eight.inputIds.data.subarray(8)], [8, 0, 0, 0, 0, 0, 0, 0]);
});

test('left padding for generation; labels are padded to their own longest length', () => {
  const p1 = { input_ids: [1, 2, 3], attention_mask: [1, 1, 1], labels: [9] };
  const p2 = { input_ids: [4], attention_mask: [1], labels: [7, 7] };
  const batch = collate([p1, p2], { padTokenId: 0, paddingSide: 'left' });
  assert.deepEqual([...batch.inputIds.data], [1, 2, 3, 0, 0, 4]);
  assert.deepEqual([...batch.attentionMask.data], [1, 1, 1, 0, 0, 1]);
  assert.deepEqual(batch.labels.shape, [2, 2]);
  assert.deepEqual([...batch.labels.data], [X, 9, 7, 7]);
});

test('packed rows: position ids kept; neat packing turns 1..k masks into segment ids', () => {
  const packed = {
    input_ids: [1, 2, 3, 4, 0],
    attention_mask: [1, 1, 2, 2, 0],
    labels: [X, 2, X, 4, X],
    position_ids: [0, 1, 0, 1, 0],
  };
  const batch = collate([packed], { padTokenId: 0, neatPacking: true, padToMultipleOf: 8 });
  assert.deepEqual([...batch.segmentIds!.data], [1, 1, 2, 2, 0, 0, 0, 0]);
  assert.deepEqual([...batch.attentionMask.data], [1, 1, 1, 1, 0, 0, 0, 0]);
  assert.deepEqual([...batch.positionIds!.data], [0, 1, 0, 1, 0, 0, 0, 0]);
});

test('language modeling labels ignore every pad-id position (pad = EOS masks EOS too, as upstream)', () => {
  const batch = collate([{ input_ids: [3, 2, 4], attention_mask: [1, 1, 1], labels: [3, 2, 4] }, b], {
    padTokenId: 2,
    languageModeling: true,
  });
  assert.deepEqual([...batch.labels.data], [3, X, 4, 8, X, X]);
});

test('pairwise: chosen rows then rejected rows; kto: KL rows padded on their own, tags as ints', () => {
  const pair = (c: number[], r: number[]) => ({
    chosen_input_ids: c,
    chosen_attention_mask: c.map(() => 1),
    chosen_labels: c,
    rejected_input_ids: r,
    rejected_attention_mask: r.map(() => 1),
    rejected_labels: r,
  });
  const batch = collatePairwise([pair([1], [2, 2]), pair([3, 3, 3], [4])], { padTokenId: 0 });
  assert.deepEqual(batch.inputIds.shape, [4, 3]);
  assert.deepEqual([...batch.inputIds.data], [1, 0, 0, 3, 3, 3, 2, 2, 0, 4, 0, 0]);
  const kto = collateFeedback(
    [
      { ...a, kl_input_ids: [9], kl_attention_mask: [1], kl_labels: [9], kto_tags: true },
      { ...b, kl_input_ids: [9, 9], kl_attention_mask: [1, 1], kl_labels: [X, 9], kto_tags: false },
    ],
    { padTokenId: 0 },
  );
  assert.deepEqual(kto.inputIds.shape, [2, 3]);
  assert.deepEqual(kto.klInputIds.shape, [2, 2]);
  assert.deepEqual([...kto.klLabels.data], [9, X, X, 9]);
  assert.deepEqual([...kto.ktoTags], [1, 0]);
  assert.throws(() => collate([], { padTokenId: 0 }), /empty batch/);
});
