/** deepspeed configs under data parallelism: stage 0 is DDP; ZeRO stages 1-3 are refused saying what to do. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkDeepspeed, zeroStage } from '../../src/dist/deepspeed.js';
import { tempDir } from '../util/tokenizers.js';

test('the ZeRO stage is read from a file or inline JSON; stages above 0 are refused with the way out', () => {
  const file = join(tempDir('ds'), 'ds_z3_config.json');
  writeFileSync(file, JSON.stringify({ train_batch_size: 'auto', zero_optimization: { stage: 3 } }));
  assert.equal(zeroStage(file), 3);
  assert.equal(zeroStage('{"zero_optimization": {"stage": "auto"}}'), 0);
  assert.equal(zeroStage('{}'), 0);
  assert.doesNotThrow(() => checkDeepspeed('{"zero_optimization": {"stage": 0}}'));
  assert.doesNotThrow(() => checkDeepspeed(null));
  assert.throws(() => checkDeepspeed(file), /ZeRO-3 shards gradients and weights.*"stage": 0/);
  assert.throws(() => checkDeepspeed('{"zero_optimization": {"stage": 1}}'), /ZeRO-1\) is not implemented/);
  assert.throws(() => checkDeepspeed('missing.json'), /neither a JSON object nor a file/);
  assert.throws(() => zeroStage('{"zero_optimization": {"stage": 5}}'), /use 0, 1, 2 or 3/);
});
