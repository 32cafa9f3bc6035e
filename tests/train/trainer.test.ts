/**
 * End to end: `train()` on a tiny random Llama with a real tokenizer (Mistral's vocabulary) and the bundled alpaca
 * data: the output files, a falling loss, bit-exact resume after an interruption, and the accumulation rule.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { scope } from '../../src/engine/index.js';
import { LoraAdapter } from '../../src/io/peft.js';
import { train } from '../../src/train/trainer.js';
import { SFT_DEMO, tinySftModelDir } from '../util/tiny-sft.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('lmforge-train-');
after(() => rmSync(root, { recursive: true, force: true }));

/** A tiny Llama over the Mistral tokenizer's 32000 ids, saved with its tokenizer files. */
const modelDir = tinySftModelDir();

const common = {
  ...SFT_DEMO,
  model_name_or_path: modelDir,
  cutoff_len: 64,
  max_samples: 24,
  finetuning_type: 'lora',
  lora_target: 'all',
  lora_rank: 4,
  per_device_train_batch_size: 2,
  gradient_accumulation_steps: 2,
  learning_rate: 5e-3,
  max_steps: 6,
  logging_steps: 2,
  save_steps: 3,
  plot_loss: true,
  seed: 7,
  report_to: 'none',
};
const quiet = { progress: false as const, log: () => {} };

function adapterValues(dir: string): Map<string, Float32Array> {
  const a = LoraAdapter.open(dir);
  try {
    return new Map([...a.keys.keys()].map((k) => [k, scope(() => a.load(k).toFloat32Array())]));
  } finally {
    a.close();
  }
}

test('full fine-tuning: the loss falls and the model is saved in HF format', async () => {
  const out = join(root, 'full');
  const result = await train(
    { ...common, output_dir: out, finetuning_type: 'full', max_steps: 8, learning_rate: 1e-2, save_steps: 100 },
    quiet,
  );
  const losses = result.logHistory.filter((e) => typeof e.loss === 'number').map((e) => e.loss as number);
  assert.ok((losses.at(-1) as number) < (losses[0] as number) * 0.95, `loss fell: ${losses.join(' -> ')}`);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) assert.ok(existsSync(join(out, f)), f);
});

test('a LoRA SFT run writes the files LLaMA-Factory users know, and the loss falls', async () => {
  const out = join(root, 'run');
  const result = await train({ ...common, output_dir: out, max_steps: 12, save_steps: 6, learning_rate: 5e-2 }, quiet);
  assert.equal(result.globalStep, 12);
  for (const f of [
    'adapter_config.json',
    'adapter_model.safetensors',
    'tokenizer.json',
    'tokenizer_config.json',
    'trainer_log.jsonl',
    'trainer_state.json',
    'train_results.json',
    'all_results.json',
    'training_args.yaml',
    'training_loss.png',
    'checkpoint-6/adapter_model.safetensors',
    'checkpoint-6/optimizer.safetensors',
    'checkpoint-12/trainer_state.json',
  ])
    assert.ok(existsSync(join(out, f)), `${f} was written`);
  const lines = readFileSync(join(out, 'trainer_log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 6);
  assert.deepEqual(Object.keys(lines[0]).slice(0, 3), ['current_steps', 'total_steps', 'loss']);
  const losses = result.logHistory.filter((e) => typeof e.loss === 'number').map((e) => e.loss as number);
  // A LoRA on a random base moves the loss little in 12 steps; the quick start shows it on a trained base.
  assert.ok((losses.at(-1) as number) < (losses[0] as number), `loss fell: ${losses.join(' -> ')}`);
  const state = JSON.parse(readFileSync(join(out, 'trainer_state.json'), 'utf8'));
  assert.equal(state.global_step, 12);
  assert.match(readFileSync(join(out, 'training_args.yaml'), 'utf8'), /lora_rank: 4/);
});

test('a run stopped at step 3 and resumed ends with the same weights as an uninterrupted run', async () => {
  const straight = join(root, 'straight');
  await train({ ...common, output_dir: straight }, quiet);
  const resumed = join(root, 'resumed');
  const controller = new AbortController();
  const first = await train(
    { ...common, output_dir: resumed },
    { ...quiet, signal: controller.signal, events: { onStep: ({ step }) => step === 3 && controller.abort() } },
  );
  assert.equal(first.interrupted, true);
  assert.equal(first.globalStep, 3);
  assert.ok(existsSync(join(resumed, 'checkpoint-3', 'trainer_state.json')));
  assert.ok(!existsSync(join(resumed, 'adapter_model.safetensors')), 'an interrupted run leaves no final adapter');
  const second = await train({ ...common, output_dir: resumed }, quiet); // finds checkpoint-3 by itself
  assert.equal(second.globalStep, 6);
  const a = adapterValues(straight);
  const b = adapterValues(resumed);
  assert.equal(a.size, b.size);
  for (const [k, v] of a) assert.deepEqual(b.get(k), v, `${k} differs after resume`);
  // The log continues rather than restarting.
  const steps = second.logHistory.filter((e) => typeof e.loss === 'number').map((e) => e.step);
  assert.deepEqual(steps, [2, 4, 6]);
});

test('gradient accumulation weighs tokens, not micro-batches: 2x1 accumulated equals one batch of 2', async () => {
  const oneBatch = join(root, 'b2');
  const accumulated = join(root, 'b1x2');
  const run = { ...common, max_steps: 1, save_steps: 100, disable_shuffling: true, gradient_checkpointing: false };
  await train({ ...run, output_dir: oneBatch, per_device_train_batch_size: 2, gradient_accumulation_steps: 1 }, quiet);
  await train(
    { ...run, output_dir: accumulated, per_device_train_batch_size: 1, gradient_accumulation_steps: 2 },
    quiet,
  );
  const a = adapterValues(oneBatch);
  const b = adapterValues(accumulated);
  for (const [k, v] of a) {
    const w = b.get(k) as Float32Array;
    let max = 0;
    for (let i = 0; i < v.length; i++) max = Math.max(max, Math.abs((v[i] as number) - (w[i] as number)));
    assert.ok(max < 1e-6, `${k}: max difference ${max}`);
  }
});

test('bad configurations stop with a clear message', async () => {
  await assert.rejects(
    train({ ...common, output_dir: join(root, 'x'), stage: 'ppo', reward_model: modelDir }, quiet),
    /no value_head\.safetensors in .* train the reward model with stage: rm/,
  );
  await assert.rejects(train({ ...common, output_dir: join(root, 'x'), lora_rnk: 4 }, quiet), /lora_rank/);
  await assert.rejects(
    train({ ...common, output_dir: join(root, 'x'), model_name_or_path: join(root, 'nowhere') }, quiet),
    /not a local Hugging Face model folder/,
  );
});

test('default_system "" removes the template default system prompt (null keeps it), as LLaMA-Factory', async () => {
  const { parseTrainArgs } = await import('../../src/hparams/index.js');
  const { templateFor } = await import('../../src/train/template-setup.js');
  const { Tokenizer } = await import('../../src/tokenizer/tokenizer.js');
  const tokenizer = Tokenizer.fromDir('examples/tiny/base');
  const args = (system: string | null) =>
    parseTrainArgs({
      stage: 'sft',
      do_train: true,
      model_name_or_path: 'examples/tiny/base',
      dataset: 'tiny_sft',
      template: 'qwen',
      default_system: system,
      output_dir: join(root, 'unused'),
    });
  const messages = [
    { role: 'user' as const, content: 'Who are you?' },
    { role: 'assistant' as const, content: 'Tiny Forge.' },
  ];
  const text = async (system: string | null) => {
    const t = templateFor(tokenizer, args(system), () => {});
    const [prompt] = await t.encodeOneturn(tokenizer, messages);
    return tokenizer.decode(prompt);
  };
  assert.doesNotMatch(await text(''), /Qwen/);
  assert.match(await text(null), /You are Qwen/);
});

test('a non-finite loss stops the run with the step, a checkpoint of the weights before it, and advice', async () => {
  const out = join(root, 'diverge');
  // An absurd learning rate without clipping blows the weights up within a few updates.
  const run = train(
    {
      ...common,
      output_dir: out,
      finetuning_type: 'full',
      learning_rate: 1e30,
      max_grad_norm: 0,
      max_steps: 8,
      save_steps: 100,
    },
    quiet,
  );
  await assert.rejects(run, (e: Error & { userFacing?: boolean }) => {
    assert.equal(e.userFacing, true);
    assert.match(e.message, /became (NaN|Infinity|-Infinity) at step \d+/);
    assert.match(e.message, /Lower learning_rate/);
    const dir = /saved in (\S+?)\./.exec(e.message)?.[1] as string;
    assert.ok(existsSync(join(dir, 'trainer_state.json')), 'the checkpoint is complete');
    return true;
  });
});
