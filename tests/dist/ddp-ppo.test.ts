/**
 * Stage ppo data-parallel: 2 ranks x batch 2 x accumulation 2 (a global PPO batch of 8 prompts, greedy rollouts,
 * score normalisation and reward whitening on) end with the LoRA weights and value head of one process x batch 4 x
 * accumulation 2, which takes the same prompts, rollouts and global mini-batches. Also the share/merge bookkeeping.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Generator } from '../../src/engine/index.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { mergeShares, rankShare, rowsGenerator } from '../../src/train/ppo-ranks.js';
import { VALUE_HEAD_FILE, VALUE_HEAD_WEIGHT, ValueHead } from '../../src/train/rm.js';
import { train } from '../../src/train/trainer.js';
import { tinyMistralDir } from '../util/tiny-model.js';
import { tempDir } from '../util/tokenizers.js';
import { adapterValues, ddpConfig, maxDifference, mpiMissing, mpirunTrain, writeYaml } from './mpi-support.js';

const missing = mpiMissing();
if (missing) console.log(`# skipped: ${missing}`);
const root = tempDir('ddp-ppo');
after(() => rmSync(root, { recursive: true, force: true }));

test('rankShare takes each rank its slice of every global mini-batch; mergeShares puts them back in order', () => {
  const global = Array.from({ length: 12 }, (_, i) => i);
  const shares = [0, 1, 2].map((rank) => rankShare(global, { rank, size: 3 }, 2));
  assert.deepEqual(shares, [
    [0, 1, 6, 7],
    [2, 3, 8, 9],
    [4, 5, 10, 11],
  ]);
  assert.deepEqual(mergeShares(shares, 2), global);
});

test("rowsGenerator gives a rank's rows the dropout words one process gives them and advances the stream past all", () => {
  const one = new Generator(11, 40);
  const a = rowsGenerator(one, [3, 2, 4], 0, 8);
  const two = new Generator(11, 40);
  const b = rowsGenerator(two, [3, 2, 4], 2, 8);
  assert.equal(a.offset, 40);
  assert.equal(b.offset, 40 + 5 * 8);
  assert.equal(one.offset, two.offset);
  assert.ok(one.offset >= 40 + 9 * 8);
});

function headValues(dir: string): Map<string, Float32Array> {
  const file = SafetensorsFile.open(join(dir, VALUE_HEAD_FILE));
  try {
    return new Map([[VALUE_HEAD_WEIGHT, file.load(VALUE_HEAD_WEIGHT).toFloat32Array()]]);
  } finally {
    file.close();
  }
}

test("stage ppo: 2 ranks end with one process's adapter and value head", { skip: missing ?? false }, async () => {
  const rewardDir = tinyMistralDir(6, { std: 0.5, maxPositionEmbeddings: 256 });
  const head = ValueHead.init(32, 3);
  head.save(rewardDir);
  head.dispose();
  const ppo = {
    stage: 'ppo',
    model_name_or_path: tinyMistralDir(5, { std: 0.5, maxPositionEmbeddings: 256 }),
    max_samples: 16,
    reward_model: rewardDir,
    reward_model_type: 'full',
    do_sample: false,
    max_new_tokens: 5,
    ppo_buffer_size: 1,
    ppo_epochs: 2,
    ppo_score_norm: true,
    ppo_whiten_rewards: true,
    // Adam moves each weight by about lr per update whatever the gradient's size, so the f32 rounding of gradients
    // that nearly cancel (whitened advantages have mean 0) shows in the weights in proportion to lr: the largest
    // difference after 4 updates is 3e-7 at lr 1e-4 (6.5e-6 at lr 1e-3; 6e-9 after the first update).
    learning_rate: 1e-4,
    max_steps: 2,
  };
  const one = join(root, 'one');
  await train(ddpConfig(one, { ...ppo, per_device_train_batch_size: 4 }), { progress: false, log: () => {} });
  const two = join(root, 'two');
  const cfg = ddpConfig(two, { ...ppo, per_device_train_batch_size: 2 });
  const r = mpirunTrain(2, writeYaml(join(root, 'ppo.yaml'), cfg));
  assert.equal(r.status, 0, r.stderr);
  const adapter = maxDifference(adapterValues(one), adapterValues(two));
  assert.ok(adapter <= 1e-6, `largest adapter weight difference ${adapter}`);
  const value = maxDifference(headValues(one), headValues(two));
  assert.ok(value <= 1e-6, `largest value head difference ${value}`);
  // the weights moved (else equality says nothing): LoRA B starts at 0, the head at ValueHead.init(C, seed)
  const loraB = [...adapterValues(one)].filter(([k]) => k.includes('lora_B'));
  assert.ok(loraB.length > 0 && loraB.every(([, v]) => v.some((x) => Math.abs(x) > 1e-5)), 'LoRA B did not move');
  const moved = maxDifference(
    new Map([[VALUE_HEAD_WEIGHT, ValueHead.init(32, 7).weight.toFloat32Array()]]),
    headValues(one),
  );
  assert.ok(moved > 1e-6, `the value head did not move (${moved})`);
});
