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
