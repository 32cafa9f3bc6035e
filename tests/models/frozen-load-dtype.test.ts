// Issue #12: a bf16/f16 run whose base stays frozen loads it straight into the storage dtype (train/setup.ts,
// train/run-setup.ts) instead of as f32 that castFrozen converts. That is only sound while both give the same
// parameters, bit for bit: every 2-D tensor the loader converts is one castFrozen would convert, the same way.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseModelConfig } from '../../src/io/model-config.js';
import { createModel, loadModel } from '../../src/models/causal-lm.js';
import { freezePatterns } from '../../src/models/training-modes.js';
import { TINY_FAMILY_SIZES } from '../util/tiny-config.js';

const base = TINY_FAMILY_SIZES;

const VARIANTS: [string, Record<string, unknown>][] = [
  ['llama, untied head', { architectures: ['LlamaForCausalLM'] }],
  ['llama, tied, biases', { architectures: ['LlamaForCausalLM'], tie_word_embeddings: true, attention_bias: true }],
  ['qwen2-moe', { architectures: ['Qwen2MoeForCausalLM'], num_experts: 4, num_experts_per_tok: 2 }],
  ['chatglm', { architectures: ['ChatGLMModel'], num_layers: 2, padded_vocab_size: 97, ffn_hidden_size: 48 }],
];

for (const [label, extra] of VARIANTS)
  for (const dtype of ['bf16', 'f16'] as const)
    test(`${label}: loading frozen weights as ${dtype} equals an f32 load + castFrozen`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'lmforge-frozen-dtype-'));
      try {
        const original = createModel(parseModelConfig({ ...base, ...extra }), { seed: 7 });
        original.save(dir); // f32: the conversion rounds, so a different rounding path would show
        original.dispose();
        const straight = await loadModel(dir, { dtype });
        const cast = await loadModel(dir);
        for (const m of [straight, cast]) {
          m.freezeAll();
          m.castFrozen(dtype);
        }
        const want = new Map(cast.namedParameters());
        assert.deepEqual(
          straight.namedParameters().map(([n]) => n),
          [...want.keys()],
        );
        for (const [name, t] of straight.namedParameters()) {
          const w = want.get(name);
          assert.ok(w);
          assert.equal(t.dtype, w.dtype, name);
          assert.deepEqual(t.toTypedArray(), w.toTypedArray(), name);
        }
        assert.ok(
          straight.namedParameters().some(([, t]) => t.dtype === dtype),
          'something was converted',
        );
        straight.dispose();
        cast.dispose();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

// Freeze tuning: the trained layers load as f32 masters (their names from freezePatterns, before the model exists),
// the rest straight into the storage dtype; after setup both ways hold the same parameters, bit for bit.
for (const [label, extra] of VARIANTS.slice(0, 2))
  test(`${label}: freeze tuning under bf16 loads frozen layers as bf16 and trained ones as f32, as castFrozen`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lmforge-frozen-dtype-'));
    try {
      const original = createModel(parseModelConfig({ ...base, ...extra }), { seed: 7 });
      original.save(dir);
      const layers = original.config.numHiddenLayers;
      original.dispose();
      const freeze = { trainableLayers: 1, trainableModules: ['mlp'], extraModules: ['embed_tokens'] };
      const patterns = freezePatterns(layers, freeze);
      const straight = await loadModel(dir, {
        dtype: 'bf16',
        f32Parameters: (name) => patterns.some((p) => name.includes(p)),
      });
      const cast = await loadModel(dir);
      for (const m of [straight, cast]) {
        m.setFreezeTraining(freeze);
        m.castFrozen('bf16');
      }
      const want = new Map(cast.namedParameters());
      let trained = 0;
      for (const [name, t] of straight.namedParameters()) {
        const w = want.get(name);
        assert.ok(w, name);
        assert.equal(t.dtype, w.dtype, name);
        assert.equal(t.requiresGrad, w.requiresGrad, name);
        if (t.requiresGrad) trained++;
        assert.deepEqual(t.toTypedArray(), w.toTypedArray(), name);
      }
      assert.ok(trained > 0, 'some parameters train');
      assert.ok(
        straight.namedParameters().some(([, t]) => t.dtype === 'bf16'),
        'frozen ones were converted',
      );
      straight.dispose();
      cast.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
