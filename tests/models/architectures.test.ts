/**
 * Every architecture flag, on tiny random-weight models this test writes itself: build, save as an HF folder,
 * load back, and compare the logits with a float64 reference forward of the same weights.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Generator, ropeInvFreq, scope, uniform_ } from '../../src/engine/index.js';
import { parseModelConfig, ropeConfigOf } from '../../src/io/model-config.js';
import { createModel, loadModel } from '../../src/models/causal-lm.js';
import { assertClose } from '../util/assert.js';
import { referenceLogits } from '../util/llama-reference.js';

const base = {
  vocab_size: 97,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  max_position_embeddings: 64,
  initializer_range: 0.2,
};

const VARIANTS: [string, Record<string, unknown>][] = [
  ['llama (separate head, GQA)', { architectures: ['LlamaForCausalLM'], rope_theta: 10000 }],
  [
    'llama tied embeddings + attention/mlp bias',
    { architectures: ['LlamaForCausalLM'], tie_word_embeddings: true, attention_bias: true, mlp_bias: true },
  ],
  [
    'llama3 rope scaling',
    {
      architectures: ['LlamaForCausalLM'],
      rope_theta: 500000,
      rope_scaling: {
        rope_type: 'llama3',
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8,
      },
    },
  ],
  ['linear rope scaling', { architectures: ['LlamaForCausalLM'], rope_scaling: { type: 'linear', factor: 2 } }],
  [
    'dynamic rope scaling',
    { architectures: ['LlamaForCausalLM'], max_position_embeddings: 8, rope_scaling: { type: 'dynamic', factor: 2 } },
  ],
  ['mistral', { architectures: ['MistralForCausalLM'], sliding_window: null }],
  [
    'qwen2 (q/k/v biases, tied)',
    { architectures: ['Qwen2ForCausalLM'], tie_word_embeddings: true, rope_theta: 1000000 },
  ],
  [
    'qwen3 (q/k norm, explicit head_dim)',
    { architectures: ['Qwen3ForCausalLM'], head_dim: 16, tie_word_embeddings: false },
  ],
  ['no GQA (kv heads = heads)', { architectures: ['LlamaForCausalLM'], num_key_value_heads: 4 }],
];

for (const [label, extra] of VARIANTS) {
  test(`architecture: ${label}`, async () => {
    const cfg = parseModelConfig({ ...base, ...extra });
    const original = createModel(cfg, { seed: 3 });
    // Random biases and norm weights, so those paths change the logits.
    const gen = new Generator(11);
    for (const [, t] of original.namedParameters()) if (t.ndim === 1) uniform_(t, gen, 0.5, 1.5);
    const dir = mkdtempSync(join(tmpdir(), 'lmforge-arch-'));
    try {
      original.save(dir);
      const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      assert.deepEqual(saved.architectures, extra.architectures);
      const model = await loadModel(dir);
      const weights = new Map(model.namedParameters().map(([n, t]) => [n, Float64Array.from(t.toFloat32Array())]));
      if (cfg.tieWordEmbeddings) assert.ok(!weights.has('lm_head.weight'), 'tied head is not a separate weight');
      const b = 2;
      const t = 12;
      const ids = Int32Array.from({ length: b * t }, (_, i) => (i * 37 + 5) % cfg.vocabSize);
      const mask = Int32Array.from({ length: b * t }, (_, i) => (i >= b * t - 3 ? 0 : 1)); // row 1 right-padded
      const expected = referenceLogits(
        {
          vocabSize: cfg.vocabSize,
          hiddenSize: cfg.hiddenSize,
          intermediateSize: cfg.intermediateSize,
          numLayers: cfg.numHiddenLayers,
          numHeads: cfg.numAttentionHeads,
          numKvHeads: cfg.numKeyValueHeads,
          headDim: cfg.headDim,
          eps: cfg.rmsNormEps,
          invFreq: ropeInvFreq(ropeConfigOf(cfg), cfg.headDim, t).invFreq,
          qkNorm: cfg.qkNorm,
          tied: cfg.tieWordEmbeddings,
        },
        (n) => weights.get(n),
        ids,
        b,
        t,
        mask,
      );
      const actual = scope(() =>
        model
          .forward({ inputIds: { data: ids, shape: [b, t] }, attentionMask: { data: mask, shape: [b, t] } })
          .logits.toFloat32Array(),
      );
      const real = (_: number, i: number) => mask[Math.floor(i / cfg.vocabSize)] === 1;
      assertClose(actual.filter(real), expected.filter(real), { atol: 2e-5, rtol: 1e-4 }, label);
      model.dispose();
    } finally {
      original.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('unsupported architectures and mismatched checkpoints get errors that name the problem', async () => {
  assert.throws(
    () => parseModelConfig({ ...base, architectures: ['GPT2LMHeadModel'] }),
    /GPT2LMHeadModel.*not supported/,
  );
  const cfg = parseModelConfig({ ...base, architectures: ['LlamaForCausalLM'] });
  const dir = mkdtempSync(join(tmpdir(), 'lmforge-arch-'));
  try {
    createModel(cfg).save(dir);
    const wrong = parseModelConfig({ ...base, architectures: ['LlamaForCausalLM'], hidden_size: 64 });
    const { writeFileSync } = await import('node:fs');
    const { toHfConfigJson } = await import('../../src/io/model-config.js');
    writeFileSync(join(dir, 'config.json'), toHfConfigJson(wrong));
    await assert.rejects(loadModel(dir), /model\.embed_tokens\.weight: expected \[97, 64\], found \[97, 32\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
