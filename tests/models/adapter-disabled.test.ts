/**
 * CausalLM.withAdapterDisabled with modules_to_save (additional_target): like PEFT's disable_adapter(), the LoRA
 * layers are off and the fully trained copies give way to the original modules, so the DPO/KTO reference is exactly
 * the base model, tied head included, also for an adapter loaded to resume training.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { axpy_, liveBytes, noGrad, randn, scope } from '../../src/engine/index.js';
import { Generator } from '../../src/engine/random.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { type CausalLM, createModel } from '../../src/models/causal-lm.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('lmforge-adapter-disabled-');
after(() => rmSync(root, { recursive: true, force: true }));

function tiny(tied: boolean): CausalLM {
  const cfg = parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 40,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    max_position_embeddings: 32,
    tie_word_embeddings: tied,
  });
  return createModel(cfg, { seed: 4, std: 0.3 });
}

const input = { inputIds: { data: Int32Array.from([1, 5, 9, 3, 7, 2, 30, 11]), shape: [2, 4] as [number, number] } };
const logits = (m: CausalLM) => scope(() => noGrad(() => m.forward(input).logits.toFloat32Array()));

/** Stands in for training: moves every trainable tensor (LoRA A/B, the modules_to_save copies) randomly. */
function perturbTrainable(m: CausalLM, seed: number): void {
  const gen = new Generator(seed);
  scope(() => {
    for (const [, t] of m.trainableParameters()) axpy_(0.2, randn(t.shape, gen), t);
  });
}

for (const [label, tied, modulesToSave] of [
  ['untied, embed_tokens + norm + lm_head', false, ['embed_tokens', 'norm', 'lm_head']],
  ['tied head, embed_tokens', true, ['embed_tokens']],
] as const) {
  test(`adapter disabled = the base model exactly (${label})`, () => {
    const model = tiny(tied);
    const base = logits(model);
    model.addLora({ r: 2, targetModules: ['q_proj', 'v_proj'], modulesToSave: [...modulesToSave], seed: 1 });
    const trainable = model.trainableParameters().map(([n]) => n);
    for (const m of modulesToSave)
      assert.ok(
        trainable.some((n) => n.includes(`${m}.weight`)),
        `${m} trains: ${trainable.join(', ')}`,
      );
    perturbTrainable(model, 9);
    const trained = logits(model);
    assert.notDeepEqual(trained, base);
    assert.deepEqual(
      model.withAdapterDisabled(() => logits(model)),
      base,
    );
    // the trained copies are back afterwards, and also after fn throws
    assert.deepEqual(logits(model), trained);
    assert.throws(() =>
      model.withAdapterDisabled(() => {
        throw new Error('inside');
      }),
    );
    assert.deepEqual(logits(model), trained);

    // resuming the saved adapter on a fresh base: its modules_to_save weights overwrite the base's, the originals stay
    const dir = join(root, label.replace(/[^a-z]+/g, '-'));
    model.saveAdapter(dir);
    const resumed = tiny(tied);
    resumed.loadAdapter(dir, { trainable: true });
    assert.deepEqual(logits(resumed), trained);
    assert.deepEqual(
      resumed.withAdapterDisabled(() => logits(resumed)),
      base,
    );
    model.dispose();
    resumed.dispose();
  });
}

test('merging the adapter makes the trained modules_to_save the weights and frees their originals', () => {
  const model = tiny(false);
  logits(model); // anything a first forward caches is counted before
  const before = liveBytes();
  model.addLora({ r: 2, targetModules: ['q_proj'], modulesToSave: ['lm_head'], seed: 1 });
  perturbTrainable(model, 3);
  const trained = logits(model);
  model.mergeAdapter();
  assert.equal(liveBytes(), before);
  const merged = logits(model);
  for (let i = 0; i < merged.length; i++) assert.ok(Math.abs((merged[i] as number) - (trained[i] as number)) < 1e-4);
  // no adapter now: disabling it changes nothing
  assert.deepEqual(
    model.withAdapterDisabled(() => logits(model)),
    merged,
  );
  model.dispose();
});
