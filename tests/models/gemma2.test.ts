/**
 * Gemma 2 and Gemma 3 (text): config keys and defaults as transformers' Gemma2Config / Gemma3TextConfig read them,
 * logits and gradients against a float64 reference with every Gemma 2/3 part switched on (sandwich norms,
 * query_pre_attn_scalar, attention and final soft-capping, alternating sliding windows, Gemma 3's q/k norms and
 * local RoPE base), and a LoRA SFT step on a tiny random checkpoint.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ropeInvFreq, scope } from '../../src/engine/index.js';
import { parseModelConfig, toHfConfigJson } from '../../src/io/model-config.js';
import { createModel } from '../../src/models/causal-lm.js';
import { gemmaTwoSettings } from '../../src/models/gemma2-settings.js';
import { expectedParametersOf } from '../../src/models/registry.js';
import { decoderReferenceLogits } from '../util/decoder-reference.js';
import {
  checkCachedGeneration,
  checkGradients,
  checkLogitsParity,
  checkLoraStep,
  type ReferenceForward,
} from '../util/family-checks.js';

const sizes = {
  vocab_size: 97,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  rms_norm_eps: 1e-6,
  initializer_range: 0.2,
};

// Small caps and windows, so each part changes the logits of a 12-token row.
const GEMMA2 = {
  ...sizes,
  architectures: ['Gemma2ForCausalLM'],
  query_pre_attn_scalar: 24,
  attn_logit_softcapping: 1.5,
  final_logit_softcapping: 2.5,
  sliding_window: 4,
};

const GEMMA3 = {
  ...sizes,
  architectures: ['Gemma3ForCausalLM'],
  model_type: 'gemma3_text',
  query_pre_attn_scalar: 16,
  sliding_window: 5,
  sliding_window_pattern: 2,
  rope_theta: 1000000,
  rope_local_base_freq: 100,
  rope_scaling: { rope_type: 'linear', factor: 4 },
};

function gemma2Reference(cfg: ReturnType<typeof parseModelConfig>): ReferenceForward {
  const global = ropeInvFreq({ theta: 10000 }, 16);
  return (w, ids, b, t, mask) =>
    decoderReferenceLogits(
      {
        vocabSize: 97,
        hiddenSize: 32,
        intermediateSize: 48,
        numLayers: 3,
        numHeads: 4,
        numKvHeads: 2,
        headDim: 16,
        eps: 1e-6,
        plusOneNorm: true,
        embedScale: Math.fround(Math.sqrt(32)),
        sandwichNorms: true,
        attentionScale: 24 ** -0.5,
        attnSoftcap: 1.5,
        finalSoftcap: 2.5,
        layerWindow: (l) => (l % 2 === 0 ? 4 : Infinity), // even layers local, as HF's Gemma 2
        layerRope: () => global,
        activation: 'gelu_tanh',
      },
      (n) => w(n === 'lm_head.weight' && cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : n),
      ids,
      b,
      t,
      mask,
    );
}

function gemma3Reference(cfg: ReturnType<typeof parseModelConfig>): ReferenceForward {
  const global = ropeInvFreq({ theta: 1000000, scaling: { type: 'linear', factor: 4 } }, 16);
  const local = ropeInvFreq({ theta: 100 }, 16);
  const isLocal = (l: number) => (l + 1) % 2 !== 0; // sliding_window_pattern 2: layers 0 and 2 local
  return (w, ids, b, t, mask) =>
    decoderReferenceLogits(
      {
        vocabSize: 97,
        hiddenSize: 32,
        intermediateSize: 48,
        numLayers: 3,
        numHeads: 4,
        numKvHeads: 2,
        headDim: 16,
        eps: 1e-6,
        plusOneNorm: true,
        embedScale: Math.fround(Math.sqrt(32)),
        sandwichNorms: true,
        qkNorm: true,
        attentionScale: 16 ** -0.5,
        layerWindow: (l) => (isLocal(l) ? 5 : Infinity),
        layerRope: (l) => (isLocal(l) ? local : global),
        activation: 'gelu_tanh',
      },
      (n) => w(n === 'lm_head.weight' && cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : n),
      ids,
      b,
      t,
      mask,
    );
}

test('Gemma 2 config: Gemma defaults, Gemma2Config keys and the local/global layer pattern', () => {
  const cfg = parseModelConfig({ ...sizes, architectures: ['Gemma2ForCausalLM'], head_dim: undefined });
  assert.equal(cfg.modelType, 'gemma2');
  assert.equal(cfg.headDim, 256);
  assert.equal(cfg.tieWordEmbeddings, true);
  assert.equal(cfg.hiddenAct, 'gelu_pytorch_tanh');
  assert.deepEqual([cfg.bosTokenId, cfg.eosTokenIds, cfg.padTokenId], [2, [1], 0]);
  assert.equal(cfg.slidingWindow, null, 'the shared Llama window stays off: the family windows its own layers');
  const s = gemmaTwoSettings(cfg, false);
  assert.equal(s.attentionScale, 1 / 16);
  assert.equal(s.attnLogitSoftcapping, 50);
  assert.equal(s.finalLogitSoftcapping, 30);
  assert.deepEqual(s.layerWindows, [4096, null, 4096]);
  assert.equal(s.qkNorm, false);
  assert.equal(s.localRopeTheta, null);
  const nulls = gemmaTwoSettings(
    parseModelConfig({ ...GEMMA2, attn_logit_softcapping: null, final_logit_softcapping: null }),
    false,
  );
  assert.deepEqual([nulls.attnLogitSoftcapping, nulls.finalLogitSoftcapping], [null, null]);
  // transformers >= 4.53 writes layer_types; it wins over the pattern
  const typed = parseModelConfig({ ...GEMMA2, layer_types: ['full_attention', 'sliding_attention', 'full_attention'] });
  assert.deepEqual(gemmaTwoSettings(typed, false).layerWindows, [null, 4, null]);
  assert.throws(
    () => gemmaTwoSettings(parseModelConfig({ ...GEMMA2, layer_types: ['sliding_attention'] }), false),
    /layer_types.*one type per layer \(3\)/,
  );
  assert.throws(
    () => gemmaTwoSettings(parseModelConfig({ ...GEMMA2, attn_logit_softcapping: -1 }), false),
    /attn_logit_softcapping.*> 0 or null/,
  );
  const params = expectedParametersOf(cfg);
  assert.deepEqual(params.get('model.layers.2.pre_feedforward_layernorm.weight'), [32]);
  assert.deepEqual(params.get('model.layers.2.post_feedforward_layernorm.weight'), [32]);
  assert.ok(!params.has('lm_head.weight'));
  // Written back with Python's floats, as save_pretrained writes them
  const json = toHfConfigJson(parseModelConfig({ ...GEMMA2, attn_logit_softcapping: 50, final_logit_softcapping: 30 }));
  assert.match(json, /"attn_logit_softcapping": 50\.0/);
  assert.match(json, /"final_logit_softcapping": 30\.0/);
});

test('Gemma 3 text config: model_type gemma3_text, rope_theta 1e6, every sixth layer global, local RoPE base', () => {
  const cfg = parseModelConfig({ ...sizes, num_hidden_layers: 12, architectures: ['Gemma3ForCausalLM'] });
  assert.equal(cfg.modelType, 'gemma3_text');
  assert.equal(cfg.ropeTheta, 1000000);
  assert.equal(cfg.maxPositionEmbeddings, 131072);
  const s = gemmaTwoSettings(cfg, true);
  assert.deepEqual(
    s.layerWindows.map((w) => w !== null),
    [true, true, true, true, true, false, true, true, true, true, true, false],
  );
  assert.deepEqual([s.attnLogitSoftcapping, s.finalLogitSoftcapping], [null, null]);
  assert.equal(s.localRopeTheta, 10000);
  assert.equal(s.qkNorm, true);
  const params = expectedParametersOf(cfg);
  assert.deepEqual(params.get('model.layers.11.self_attn.q_norm.weight'), [16]);
  assert.deepEqual(params.get('model.layers.11.self_attn.k_norm.weight'), [16]);
});

test('Gemma 2 logits match the float64 reference (soft-capping, sandwich norms, windows on even layers)', async () => {
  await checkLogitsParity(GEMMA2, gemma2Reference);
});

test('Gemma 3 logits match the float64 reference (q/k norms, local RoPE base, scaled global RoPE)', async () => {
  await checkLogitsParity(GEMMA3, gemma3Reference);
});

const GRAD_NAMES = [
  'model.layers.0.self_attn.q_proj.weight',
  'model.layers.0.self_attn.k_proj.weight',
  'model.layers.1.self_attn.v_proj.weight',
  'model.layers.0.self_attn.o_proj.weight',
  'model.layers.0.mlp.gate_proj.weight',
  'model.layers.2.mlp.down_proj.weight',
  'model.layers.0.post_attention_layernorm.weight',
  'model.layers.1.pre_feedforward_layernorm.weight',
  'model.layers.2.post_feedforward_layernorm.weight',
  'model.norm.weight',
  'model.embed_tokens.weight',
];

test('Gemma 2 gradients match finite differences of the float64 reference', () => {
  checkGradients(GEMMA2, gemma2Reference, GRAD_NAMES);
});

test('Gemma 3 gradients match finite differences of the float64 reference', () => {
  checkGradients(GEMMA3, gemma3Reference, [
    ...GRAD_NAMES,
    'model.layers.0.self_attn.q_norm.weight',
    'model.layers.1.self_attn.k_norm.weight',
  ]);
});

test('final soft-capping bounds the logits and the fused loss equals the logits path', () => {
  const model = createModel(parseModelConfig({ ...GEMMA2, final_logit_softcapping: 0.5 }), { seed: 4, std: 0.5 });
  const ids = [[2, 9, 14, 3, 27, 41, 1]];
  scope(() => {
    const { logits, loss } = model.forward({ inputIds: ids, labels: ids });
    assert.ok(
      logits.toFloat32Array().every((z) => Math.abs(z) <= 0.5),
      'every logit within the cap',
    );
    const fused = model.forward({ inputIds: ids, labels: ids, returnLogits: false }).loss.item();
    assert.ok(Math.abs(fused - (loss?.item() as number)) < 1e-6, `${fused} vs ${loss?.item()}`);
  });
  model.dispose();
});

test('a LoRA SFT step on a tiny Gemma 2 and Gemma 3: every projection gets gradients, the loss falls', () => {
  checkLoraStep(GEMMA2, 3 * 7 * 2);
  checkLoraStep(GEMMA3, 3 * 7 * 2);
});

test('gemma2: greedy generation with the KV cache equals recomputing every step (left padding)', () => {
  checkCachedGeneration(GEMMA2);
});

test('gemma3: greedy generation with the KV cache equals recomputing every step (left padding)', () => {
  checkCachedGeneration(GEMMA3);
});
