/**
 * Stage ppo end to end: LoRA PPO of the bundled tiny base model (it writes classical Chinese verse) against a toy
 * reward server (reward_model_type api) that counts the characters of 花月春风雪云山水 in each response; with a fixed
 * seed the mean reward of the last steps must clearly exceed the first steps'. Also the response cut of get_inputs and the refusal to resume.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseTrainArgs } from '../../src/hparams/index.js';
import { trimResponse } from '../../src/train/ppo-rollout.js';
import { train } from '../../src/train/trainer.js';
import { tempDir } from '../util/tokenizers.js';

test('responses are cut after the last non-pad token; with pad = eos the eos that ended them stays', () => {
  // pad 0, eos 2 (distinct): filler pads go, the eos stays because it is not a pad
  assert.deepEqual(trimResponse([5, 6, 2], 0, 2), [5, 6, 2]);
  assert.deepEqual(trimResponse([5, 6, 0, 0], 0, 2), [5, 6]);
  // pad = eos = 2: the response keeps one eos after its last real token
  assert.deepEqual(trimResponse([5, 6, 2], 2, 2), [5, 6, 2]);
  assert.deepEqual(trimResponse([5, 6, 7], 2, 2), [5, 6, 7]);
  // an all-pad response keeps its first token (LLaMA-Factory allows empty responses that way)
  assert.deepEqual(trimResponse([2, 2], 2, 2), [2]);
});

/** Frequent characters of the base model's verse: the reward is dense enough to learn from in a few steps. */
const REWARDED = '花月春风雪云山水';
let server: Server;
let url = '';
const root = tempDir('ppo-e2e');
after(() => rmSync(root, { recursive: true, force: true }));

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const { messages } = JSON.parse(body) as { messages: string[] };
      // the response is what follows the ChatML assistant header of the qwen template
      const header = '<|im_start|>assistant\n';
      const scores = messages.map(
        (m) => [...m.slice(m.lastIndexOf(header) + header.length)].filter((c) => REWARDED.includes(c)).length,
      );
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ scores }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
});
after(() => server.close());

const config = () => ({
  stage: 'ppo',
  do_train: true,
  model_name_or_path: 'examples/tiny/base',
  dataset: 'tiny_sft',
  dataset_dir: 'examples/data',
  template: 'qwen',
  default_system: '',
  cutoff_len: 64,
  max_samples: 16,
  finetuning_type: 'lora',
  lora_target: 'all',
  lora_rank: 8,
  per_device_train_batch_size: 4,
  gradient_accumulation_steps: 1,
  ppo_buffer_size: 2,
  ppo_epochs: 4,
  learning_rate: 1e-3,
  lr_scheduler_type: 'constant',
  max_steps: 10,
  logging_steps: 1,
  save_steps: 5,
  plot_loss: true,
  reward_model: url,
  reward_model_type: 'api',
  max_new_tokens: 12,
  output_dir: join(root, 'out'),
  overwrite_output_dir: true,
  seed: 9,
  report_to: 'none',
});

test('under warmup the PPO log keeps the rate each step used (TRL), the bar shows reward and the next rate', async () => {
  const progress: string[] = [];
  const result = await train(
    {
      ...config(),
      max_steps: 2,
      lr_scheduler_type: 'linear',
      warmup_steps: 1,
      save_steps: 1000,
      plot_loss: false,
      output_dir: join(root, 'warmup'),
    },
    { progress: { write: (s: string) => progress.push(s), isTTY: false }, log: () => {} },
  );
  assert.equal(result.logHistory[0]?.learning_rate, 0);
  const first = progress.find((l) => l.includes('step 1/2')) ?? '';
  assert.match(first, /\| loss -?\d+\.\d{4} \| reward -?\d+\.\d{4} \| lr 1\.00e-03 \|/, first);
});

test('PPO on a toy reward (frequent verse characters) raises the mean reward', async () => {
  const result = await train(config(), { progress: false, log: () => {} });
  const rewards = result.logHistory.map((e) => e.reward as number);
  assert.equal(rewards.length, 10);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(rewards.slice(0, 3));
  const last = mean(rewards.slice(-3));
  assert.ok(last > first + 1, `mean reward ${first} over the first 3 steps, ${last} over the last 3: ${rewards}`);
  for (const e of result.logHistory)
    for (const key of ['loss', 'reward', 'learning_rate', 'epoch', 'kl', 'kl_coef', 'policy_loss', 'value_loss'])
      assert.equal(typeof e[key], 'number', key);
  const out = result.outputDir;
  for (const f of [
    'adapter_model.safetensors',
    'value_head.safetensors',
    'trainer_state.json',
    'train_results.json',
    'training_args.yaml',
    'training_loss.png',
    'training_reward.png',
    join('checkpoint-5', 'adapter_model.safetensors'),
    join('checkpoint-5', 'value_head.safetensors'),
  ])
    assert.ok(existsSync(join(out, f)), f);
  const lines = readFileSync(join(out, 'trainer_log.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 10);
  assert.equal(typeof JSON.parse(lines[0] as string).reward, 'number');
  // PPO cannot resume: a second run into the same folder without overwrite_output_dir stops with advice
  await assert.rejects(
    train({ ...config(), overwrite_output_dir: false }, { progress: false, log: () => {} }),
    /stage ppo cannot resume .* overwrite_output_dir: true/,
  );
});

test('examples/train_lora/tiny_lora_ppo.yaml scores with what tiny_lora_reward.yaml trains', () => {
  const reward = parseTrainArgs(['examples/train_lora/tiny_lora_reward.yaml']);
  const ppo = parseTrainArgs(['examples/train_lora/tiny_lora_ppo.yaml']);
  assert.equal(reward.finetuning.stage, 'rm');
  assert.equal(ppo.finetuning.stage, 'ppo');
  assert.deepEqual([...reward.notes, ...ppo.notes], []);
  assert.equal(ppo.finetuning.reward_model, reward.training.output_dir);
  assert.equal(ppo.finetuning.reward_model_type, 'lora');
  assert.deepEqual(ppo.finetuning.lora_target, reward.finetuning.lora_target);
});
