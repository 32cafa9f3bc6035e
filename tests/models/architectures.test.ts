/**
 * Every architecture flag, on tiny random-weight models this test writes itself: build, save as an HF folder,
 * load back, and compare the logits with a float64 reference forward of the same weights.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Generator, mul, scope, sumAll, Tensor, uniform_ } from '../../src/engine/index.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { createModel, loadModel } from '../../src/models/causal-lm.js';
import { assertClose } from '../util/assert.js';
import { llamaReferenceConfig, referenceLogits } from '../util/llama-reference.js';
import { TINY_FAMILY_SIZES } from '../util/tiny-config.js';

const base = TINY_FAMILY_SIZES;

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
  [
    'gemma ((1 + w) norms, GeGLU, scaled embeddings, tied, head_dim 16)',
    {
      architectures: ['GemmaForCausalLM'],
      head_dim: 16,
      hidden_act: 'gelu',
      hidden_activation: 'gelu_pytorch_tanh',
    },
  ],
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
      const expected = referenceLogits(llamaReferenceConfig(cfg, t), (n) => weights.get(n), ids, b, t, mask);
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

/**
 * Full-training gradients through every layer against central finite differences of the float64 reference, for
 * q/k norms (Qwen3), Gemma's (1 + w) norms, GeGLU and scaled embeddings, and a plain Llama: the step frees RoPE inputs and the attention/MLP outputs early
 * (Tensor.releaseValues), so this proves the tape still carries every path.
 */
const GRADIENT_VARIANTS = VARIANTS.filter(([label]) => /^(llama \(separate|qwen3|gemma)/.test(label));
for (const [label, extra] of GRADIENT_VARIANTS) {
  test(`gradients match finite differences of the float64 reference: ${label}`, () => {
    const cfg = parseModelConfig({ ...base, ...extra });
    const model = createModel(cfg, { seed: 5 });
    const gen = new Generator(13);
    for (const [, t] of model.namedParameters()) if (t.ndim === 1) uniform_(t, gen, 0.5, 1.5);
    model.setFullTraining();
    const b = 1;
    const t = 7;
    const ids = Int32Array.from({ length: b * t }, (_, i) => (i * 29 + 3) % cfg.vocabSize);
    const coef = Float64Array.from({ length: b * t * cfg.vocabSize }, (_, i) => Math.sin(i * 0.7));
    const weights = new Map(model.namedParameters().map(([n, p]) => [n, Float64Array.from(p.toFloat32Array())]));
    const refCfg = llamaReferenceConfig(cfg, t);
    const objective = () => {
      const logits = referenceLogits(refCfg, (n) => weights.get(n), ids, b, t);
      return logits.reduce((s, x, i) => s + x * (coef[i] as number), 0);
    };
    scope(() => {
      const { logits } = model.forward({ inputIds: { data: ids, shape: [b, t] } });
      sumAll(mul(logits, Tensor.from(Float32Array.from(coef), logits.shape))).backward();
    });
    const names = [
      'model.layers.0.self_attn.q_proj.weight',
      'model.layers.0.self_attn.k_proj.weight',
      'model.layers.0.self_attn.o_proj.weight',
      'model.layers.0.mlp.down_proj.weight',
      'model.layers.0.mlp.gate_proj.weight',
      'model.layers.1.input_layernorm.weight',
      'model.norm.weight',
      'model.embed_tokens.weight',
      ...(cfg.qkNorm ? ['model.layers.0.self_attn.q_norm.weight', 'model.layers.1.self_attn.k_norm.weight'] : []),
    ];
    const params = new Map(model.namedParameters());
    for (const name of names) {
      const w = weights.get(name) as Float64Array;
      const param = params.get(name);
      assert.ok(param?.grad, `${name} has no gradient`);
      const grad = param.grad.toFloat32Array();
      for (const i of [0, 5, Math.floor(w.length / 2), w.length - 1]) {
        const h = 1e-4;
        const x = w[i] as number;
        w[i] = x + h;
        const up = objective();
        w[i] = x - h;
        const down = objective();
        w[i] = x;
        const want = (up - down) / (2 * h);
        const got = grad[i] as number;
        assert.ok(Math.abs(got - want) <= 2e-3 * Math.max(1, Math.abs(want)), `${name}[${i}]: ${got} vs ${want}`);
      }
    }
    model.dispose();
  });
}
