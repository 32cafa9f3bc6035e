/** deepspeed configs under data parallelism: stage 0 is DDP, stage 1 ZeRO-1; stages 2-3 are refused saying what to do. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkDeepspeed, zeroStage } from '../../src/dist/deepspeed.js';
import { tempDir } from '../util/tokenizers.js';

test('the ZeRO stage is read from a file or inline JSON; stages above 1 are refused with the way out', () => {
  const file = join(tempDir('ds'), 'ds_z3_config.json');
  writeFileSync(file, JSON.stringify({ train_batch_size: 'auto', zero_optimization: { stage: 3 } }));
  assert.equal(zeroStage(file), 3);
  assert.equal(zeroStage('{"zero_optimization": {"stage": "auto"}}'), 0);
  assert.equal(zeroStage('{}'), 0);
  assert.doesNotThrow(() => checkDeepspeed('{"zero_optimization": {"stage": 0}}'));
  assert.doesNotThrow(() => checkDeepspeed(null));
  assert.throws(() => checkDeepspeed(file), /ZeRO-3 shards gradients and weights.*"stage": 0/);
  assert.equal(checkDeepspeed('{"zero_optimization": {"stage": 1}}'), 1);
  assert.equal(checkDeepspeed('{"zero_optimization": {"stage": 0}}'), 0);
  assert.throws(
    () => checkDeepspeed('{"zero_optimization": {"stage": 1}}', 'galore'),
    /use_galore keeps its own state/,
  );
  assert.throws(() => checkDeepspeed('{"zero_optimization": {"stage": 2}}'), /ZeRO-2 shards gradients,.*"stage": 1/);
  assert.throws(() => checkDeepspeed('missing.json'), /neither a JSON object nor a file/);
  assert.throws(() => zeroStage('{"zero_optimization": {"stage": 5}}'), /use 0, 1, 2 or 3/);
});
