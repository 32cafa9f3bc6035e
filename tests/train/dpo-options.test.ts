/**
 * The dpo stage's kto_pair, BCO (pref_bco_weight) and LD-DPO (ld_alpha) options end to end from LLaMA-Factory
 * arguments, on a tiny random Llama with Mistral's tokenizer and the bundled preference data: the first update's
 * values that follow from the policy being the reference, then learning on the training pairs.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { scope } from '../../src/engine/index.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { BCO_STATE_FILE } from '../../src/train/dpo.js';
import { train } from '../../src/train/trainer.js';
import type { LogEntry } from '../../src/train/trainer-state.js';
import { tinyMistralDir } from '../util/tiny-model.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('lmforge-dpo-options-');
after(() => rmSync(root, { recursive: true, force: true }));

const modelDir = tinyMistralDir(5, { std: 0.02, maxPositionEmbeddings: 256 });

const common = {
  do_train: true,
  stage: 'dpo',
  model_name_or_path: modelDir,
  dataset_dir: 'examples/data',
  dataset: 'preference_demo',
  eval_dataset: 'preference_demo',
  eval_strategy: 'steps',
  eval_steps: 8,
  template: 'alpaca',
  cutoff_len: 48,
  max_samples: 8,
  finetuning_type: 'lora',
  lora_target: 'all',
  lora_rank: 4,
  per_device_train_batch_size: 2,
  per_device_eval_batch_size: 4,
  gradient_accumulation_steps: 1,
  logging_steps: 1,
  save_steps: 1000,
  learning_rate: 2e-2,
  max_steps: 8,
  pref_beta: 0.1,
  seed: 7,
  report_to: 'none',
};
const quiet = { progress: false as const, log: () => {} };
const values = (history: LogEntry[], key: string) =>
  history.filter((e) => typeof e[key] === 'number').map((e) => e[key] as number);
const trainLosses = (history: LogEntry[]) => values(history, 'loss');

/** The training pairs are learnt: the eval rewards rank chosen over rejected by a margin. */
function assertLearnt(history: LogEntry[], label: string): void {
  const acc = values(history, 'eval_rewards/accuracies').at(-1) as number;
  const margin = values(history, 'eval_rewards/margins').at(-1) as number;
  assert.ok(acc >= 0.75, `${label}: eval accuracy ${acc}`);
  assert.ok(margin > 0.05, `${label}: eval margin ${margin}`);
}

test('dpo kto_pair: every row loss starts at 1 - sigmoid(0) and the pairs are learnt', async () => {
  const result = await train({ ...common, pref_loss: 'kto_pair', output_dir: join(root, 'kto-pair') }, quiet);
  const losses = trainLosses(result.logHistory);
  assert.ok(Math.abs((losses[0] as number) - 0.5) < 1e-6, `first loss ${losses[0]}`);
  assert.ok(losses.every(Number.isFinite));
  assert.ok((losses.at(-1) as number) < (losses[0] as number), `loss ${losses.join(' -> ')}`);
  assertLearnt(result.logHistory, 'kto_pair');
});

test('dpo + BCO: the first loss is (ln 2 + w 2 ln 2) / (1 + w), the baseline is checkpointed and resumes', async () => {
  const w = 0.5;
  const config = (out: string) => ({ ...common, pref_bco_weight: w, output_dir: out, save_steps: 4 });
  const straight = join(root, 'bco');
  const result = await train(config(straight), quiet);
  const losses = trainLosses(result.logHistory);
  // step 1: policy == reference, every reward and the baseline are 0
  const expected = (Math.LN2 + w * 2 * Math.LN2) / (1 + w);
  assert.ok(Math.abs((losses[0] as number) - expected) <= 5e-5, `first loss ${losses[0]} vs ${expected}`); // logged to 4 decimals
  assert.ok(losses.every(Number.isFinite));
  assert.ok((losses.at(-1) as number) < (losses[0] as number), `loss ${losses.join(' -> ')}`);
  assertLearnt(result.logHistory, 'bco');
  // LLaMA-Factory logs nothing of its own for BCO
  assert.deepEqual(
    Object.keys(result.logHistory[0] as LogEntry).filter((k) => /bco|delta/.test(k)),
    [],
  );
  const saved = JSON.parse(readFileSync(join(straight, 'checkpoint-4', BCO_STATE_FILE), 'utf8'));
  assert.equal(saved.count, 4); // one update per training batch (no evaluation before step 8)
  assert.ok(Number.isFinite(saved.mean) && saved.mean !== 0, JSON.stringify(saved));

  // interrupted at step 4 and resumed: the same adapter as the uninterrupted run, so the baseline continued
  const resumed = join(root, 'bco-resumed');
  const stop = new AbortController();
  await train(config(resumed), {
    ...quiet,
    signal: stop.signal,
    events: { onStep: ({ step }) => step === 4 && stop.abort() },
  });
  await train(config(resumed), quiet);
  assert.deepEqual(adapterValues(resumed), adapterValues(straight));
});

function adapterValues(dir: string): number[] {
  const f = SafetensorsFile.open(join(dir, 'adapter_model.safetensors'));
  try {
    return [...f.tensors.keys()].sort().flatMap((k) => [...scope(() => f.load(k).toFloat32Array())]);
  } finally {
    f.close();
  }
}

test('dpo + ld_alpha: the policy weighs verbose tokens by alpha before any update, and the pairs are learnt', async () => {
  const result = await train({ ...common, ld_alpha: 0.5, output_dir: join(root, 'ld') }, quiet);
  const first = result.logHistory[0] as LogEntry;
  // policy == reference, but the policy's verbose tokens count half: beta * (alpha - 1) * (negative log-probs) >= 0
  const chosen = first['rewards/chosen'] as number;
  const rejected = first['rewards/rejected'] as number;
  assert.ok(chosen >= 0 && rejected >= 0 && chosen + rejected > 0, JSON.stringify(first));
  const losses = trainLosses(result.logHistory);
  assert.ok(losses.every(Number.isFinite));
  assert.ok((losses.at(-1) as number) < (losses[0] as number), `loss ${losses.join(' -> ')}`);
  assertLearnt(result.logHistory, 'ld_alpha');
  assert.ok(existsSync(join(root, 'ld', 'adapter_model.safetensors')));
  // one pair per batch: the loss is -logsigmoid of the logged margin, both from the LD-weighted log-probs
  const single = await train(
    { ...common, ld_alpha: 0.5, per_device_train_batch_size: 1, max_steps: 1, output_dir: join(root, 'ld-1') },
    quiet,
  );
  const step = single.logHistory[0] as LogEntry;
  const margin = step['rewards/margins'] as number;
  assert.ok(margin !== 0, JSON.stringify(step));
  // (the logged loss is rounded to 4 decimals, as HF logs it)
  assert.ok(Math.abs((step.loss as number) - Math.log1p(Math.exp(-margin))) <= 5e-5, JSON.stringify(step));
});
