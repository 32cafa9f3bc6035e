/**
 * Stage ppo beyond LoRA + api: full fine-tuning against a frozen reference copy and a full reward model, with score
 * normalisation, reward whitening and gradient accumulation, on a tiny random Llama (Mistral's tokenizer).
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { linear, noGrad, scope } from '../../src/engine/index.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { loadModel } from '../../src/models/causal-lm.js';
import { sequenceLogProbs } from '../../src/train/dpo.js';
import { queryResponseBatch } from '../../src/train/ppo-reward.js';
import { ppoForward } from '../../src/train/ppo-rollout.js';
import { VALUE_HEAD_FILE, VALUE_HEAD_WEIGHT, ValueHead } from '../../src/train/rm.js';
import { train } from '../../src/train/trainer.js';
import { assertClose } from '../util/assert.js';
import { tinyMistralDir } from '../util/tiny-model.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('ppo-modes');
after(() => rmSync(root, { recursive: true, force: true }));

const policyDir = tinyMistralDir(5, { std: 0.5, maxPositionEmbeddings: 128 });
const rewardDir = tinyMistralDir(6, { std: 0.5, maxPositionEmbeddings: 128 });
{
  const head = ValueHead.init(32, 3);
  head.save(rewardDir);
  head.dispose();
}

test('full fine-tuning with a frozen reference and a full reward model: KL starts at 0, weights and head move', async () => {
  const initial = ValueHead.init(32, 17).weight.toFloat32Array();
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

test('ppoForward: per-token log-probs add up to the DPO sequence log-prob; values are the head at those positions', async () => {
  const model = await loadModel(tinyMistralDir(8, { std: 0.5, maxPositionEmbeddings: 64 }));
  const head = ValueHead.init(32, 2);
  const samples = [
    { query: [1, 415, 2936], response: [9060, 28723, 2] },
    { query: [1, 851, 28705, 17, 909], response: [1239] },
  ];
  scope(() =>
    noGrad(() => {
      const pass = ppoForward(model, head, samples, 0);
      assert.deepEqual(pass.index, [[0, 1, 2], [3]]);
      const lp = pass.logprobs.toFloat32Array();
      const batch = queryResponseBatch(
        samples.map((s) => s.query),
        samples.map((s) => s.response),
        0,
      );
      const expected = sequenceLogProbs(model, batch, false).logps.toFloat32Array();
      assertClose([lp[0]! + lp[1]! + lp[2]!, lp[3]!], expected, { atol: 1e-4, rtol: 1e-5 }, 'summed log-probs');
      // value of response token k = head(hidden at len(query) - 1 + k)
      const hidden = model.hiddenStates({ inputIds: batch.inputIds, attentionMask: batch.attentionMask });
      const all = linear(hidden.reshape([2 * 6, 32]), head.weight, head.bias).toFloat32Array();
      assertClose(pass.values?.toFloat32Array() ?? [], [all[2]!, all[3]!, all[4]!, all[6 + 4]!], {
        atol: 1e-6,
        rtol: 1e-5,
      });
    }),
  );
  head.dispose();
  model.dispose();
});

test('an aborted PPO run saves the adapter and value head of the last step and stops', async () => {
  const out = join(root, 'aborted');
  const controller = new AbortController();
  const result = await train(
    {
      stage: 'ppo',
      do_train: true,
      model_name_or_path: policyDir,
      dataset: 'alpaca_en_demo',
      dataset_dir: 'examples/data',
      template: 'alpaca',
      cutoff_len: 48,
      max_samples: 4,
      finetuning_type: 'lora',
      lora_target: 'all',
      per_device_train_batch_size: 2,
      ppo_epochs: 1,
      max_steps: 5,
      save_steps: 1000,
      reward_model: rewardDir,
      reward_model_type: 'full',
      max_new_tokens: 4,
      output_dir: out,
      report_to: 'none',
    },
    { progress: false, log: () => {}, signal: controller.signal, events: { onStep: () => controller.abort() } },
  );
  assert.ok(result.interrupted);
  assert.equal(result.globalStep, 1);
  for (const f of ['adapter_model.safetensors', VALUE_HEAD_FILE, 'trainer_state.json'])
    assert.ok(existsSync(join(out, 'checkpoint-1', f)), f);
  assert.ok(!existsSync(join(out, 'adapter_model.safetensors')));
});
