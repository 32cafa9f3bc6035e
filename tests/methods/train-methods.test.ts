/**
 * The methods through `train()`: a DoRA + LoRA+ + NEFTune run saves PEFT's DoRA adapter and resumes from its
 * checkpoint to the same losses; a PiSSA run with pissa_convert writes pissa_init and pissa_converted.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LoraAdapter } from '../../src/io/peft.js';
import { train } from '../../src/train/trainer.js';
import { SFT_DEMO, TINY_LORA_RUN, tinySftModelDir } from '../util/tiny-sft.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('lmforge-train-methods-');
after(() => rmSync(root, { recursive: true, force: true }));
const modelDir = tinySftModelDir();
const common = {
  ...SFT_DEMO,
  model_name_or_path: modelDir,
  ...TINY_LORA_RUN,
  logging_steps: 1,
  save_steps: 2,
  learning_rate: 1e-2,
  seed: 3,
};
const quiet = { progress: false as const, log: () => {} };
const lossesOf = (h: { loss?: unknown; step: number }[]) =>
  h.filter((e) => typeof e.loss === 'number').map((e) => [e.step, e.loss]);

test('DoRA + LoRA+ + NEFTune: trains, saves lora_magnitude_vector, resumes to the same losses', async () => {
  const methods = { use_dora: true, loraplus_lr_ratio: 4, neftune_noise_alpha: 5 };
  const out = join(root, 'dora');
  const full = await train({ ...common, ...methods, output_dir: out }, quiet);
  const adapter = LoraAdapter.open(out);
  const magnitudes = [...adapter.keys.values()].filter((k) => k.kind === 'magnitude');
  adapter.close();
  assert.equal(magnitudes.length, 14);
  assert.equal(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')).use_dora, true);

  const resumed = await train(
    {
      ...common,
      ...methods,
      output_dir: join(root, 'dora-resumed'),
      resume_from_checkpoint: join(out, 'checkpoint-2'),
    },
    quiet,
  );
  assert.deepEqual(lossesOf(resumed.logHistory).slice(-2), lossesOf(full.logHistory).slice(-2));
});

test('PiSSA with pissa_convert writes the adapter, pissa_init and pissa_converted', async () => {
  const out = join(root, 'pissa');
  await train({ ...common, pissa_init: true, pissa_iter: 4, pissa_convert: true, output_dir: out }, quiet);
  for (const f of [
    'adapter_model.safetensors',
    'pissa_init/adapter_model.safetensors',
    'pissa_converted/adapter_config.json',
  ])
    assert.ok(existsSync(join(out, f)), f);
  assert.equal(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')).init_lora_weights, 'pissa_niter_4');
  assert.equal(JSON.parse(readFileSync(join(out, 'pissa_converted', 'adapter_config.json'), 'utf8')).r, 4);
});
