import assert from 'node:assert/strict';
import { test } from 'node:test';
import { didYouMean, editDistance } from '../../src/hparams/index.js';

test('edit distance counts inserts, deletes, substitutions and neighbour swaps as one edit each', () => {
  assert.equal(editDistance('', ''), 0);
  assert.equal(editDistance('abc', ''), 3);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('stf', 'sft'), 1);
  assert.equal(editDistance('lora_rnak', 'lora_rank'), 1);
  assert.equal(editDistance('learning_rat', 'learning_rate'), 1);
});

test('suggestions: close typos and contained names, nothing for unrelated words', () => {
  const names = ['lora_rank', 'lora_alpha', 'lora_dropout', 'learning_rate', 'template'];
  assert.equal(didYouMean('lora_rnak', names), 'lora_rank');
  assert.equal(didYouMean('LORA_ALPHA', names), 'lora_alpha');
  assert.equal(didYouMean('templat', names), 'template');
  assert.equal(didYouMean('dropout', names), 'lora_dropout');
  assert.equal(didYouMean('completely_unrelated', names), undefined);
});
