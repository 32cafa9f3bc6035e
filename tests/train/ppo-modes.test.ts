/**
 * Stage ppo beyond LoRA + api: full fine-tuning against a frozen reference copy and a full reward model, with score
 * normalisation, reward whitening and gradient accumulation, on a tiny random Llama (Mistral's tokenizer).
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { VALUE_HEAD_FILE, VALUE_HEAD_WEIGHT, ValueHead } from '../../src/train/rm.js';
import { train } from '../../src/train/trainer.js';
import { tinyMistralDir } from '../util/tiny-model.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('ppo-modes');
after(() => rmSync(root, { recursive: true, force: true }));

test('full fine-tuning with a frozen reference and a full reward model: KL starts at 0, weights and head move', async () => {
  const policyDir = tinyMistralDir(5, { std: 0.5, maxPositionEmbeddings: 128 });
  const rewardDir = tinyMistralDir(6, { std: 0.5, maxPositionEmbeddings: 128 });
  const head = ValueHead.init(32, 3);
  head.save(rewardDir);
  const initial = ValueHead.init(32, 17).weight.toFloat32Array();
  head.dispose();
  const out = join(root, 'full');
  const result = await train(
    {
      stage: 'ppo',
      do_train: true,
      model_name_or_path: policyDir,
      dataset: 'alpaca_en_demo',
      dataset_dir: 'examples/data',
      template: 'alpaca',
      cutoff_len: 48,
      max_samples: 8,
      finetuning_type: 'full',
      per_device_train_batch_size: 2,
      gradient_accumulation_steps: 2,
      ppo_buffer_size: 1,
      ppo_epochs: 2,
      ppo_score_norm: true,
      ppo_whiten_rewards: true,
      learning_rate: 1e-3,
      max_steps: 2,
      logging_steps: 1,
      save_steps: 1000,
      reward_model: rewardDir,
      reward_model_type: 'full',
      max_new_tokens: 6,
      output_dir: out,
      seed: 17,
      report_to: 'none',
    },
    { progress: false, log: () => {} },
  );
  assert.equal(result.logHistory.length, 2);
  // the reference is a frozen copy of the starting policy: no divergence at the first rollout
  assert.equal(result.logHistory[0]?.kl, 0);
  for (const e of result.logHistory)
    assert.ok(Number.isFinite(e.loss) && Number.isFinite(e.reward), `not finite: ${JSON.stringify(e)}`);
  // 2 steps x 2 PPO epochs x 1 update each moved the policy's value head (seeded as ValueHead.init(C, seed))
  assert.ok(existsSync(join(out, 'model.safetensors')));
  const file = SafetensorsFile.open(join(out, VALUE_HEAD_FILE));
  const trained = file.load(VALUE_HEAD_WEIGHT).toFloat32Array();
  file.close();
  assert.ok(trained.some((v, i) => v !== initial[i]));
});
