/**
 * Phi-3 / Phi-4 (Phi3ForCausalLM): config defaults and LongRoPE parsing as transformers reads them, logits and
 * gradients against the float64 reference (which splits qkv_proj into [q | k | v] rows and gate_up_proj into
 * [gate | up] rows itself), with LongRoPE's long and short factors, its attention factor, partial rotary and a
 * sliding window; and a LoRA SFT step that targets PEFT's names (qkv_proj, o_proj, gate_up_proj, down_proj).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ropeInvFreq } from '../../src/engine/index.js';
import { type ModelConfig, parseModelConfig, toHfConfigJson } from '../../src/io/model-config.js';
import { createModel } from '../../src/models/causal-lm.js';
import { paddingRowOf } from '../../src/models/family.js';
import { expectedParametersOf } from '../../src/models/registry.js';
import { assertClose } from '../util/assert.js';
import { decoderReferenceLogits } from '../util/decoder-reference.js';
import {
  checkCachedGeneration,
  checkGradients,
  checkLogitsParity,
  checkLoraStep,
  type ReferenceForward,
} from '../util/family-checks.js';

const SHORT = [1, 1.5];
const LONG = [2, 5];

const PHI3 = {
  architectures: ['Phi3ForCausalLM'],
  vocab_size: 97,
  hidden_size: 32,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  original_max_position_embeddings: 8,
  partial_rotary_factor: 0.5,
  rope_theta: 10000,
  rope_scaling: { type: 'longrope', short_factor: SHORT, long_factor: LONG },
  sliding_window: 5,
  initializer_range: 0.2,
  eos_token_id: 96,
  pad_token_id: 96,
};

/** HF's LongRoPE table written out: 1 / (ext[i] * theta^(2i / rot)), attention factor sqrt(1 + ln 8 / ln 8). */
function longRopeTable(ext: number[], rot: number) {
  const invFreq = Float32Array.from(ext, (e, i) => 1 / (e * 10000 ** ((2 * i) / rot)));
  return { invFreq, attentionFactor: Math.sqrt(1 + Math.log(64 / 8) / Math.log(8)) };
}

/** Slices the fused rows into the names the reference reads. */
function unfuse(cfg: ModelConfig, w: (n: string) => Float64Array | undefined) {
  const { hiddenSize: c, headDim: d, numAttentionHeads: h, numKeyValueHeads: kvh, intermediateSize: f } = cfg;
  return (name: string): Float64Array | undefined => {
    const m = /^(model\.layers\.\d+)\.(self_attn\.[qkv]_proj|mlp\.(?:gate|up)_proj)\.weight$/.exec(name);
    if (!m) return w(name);
    const [, p, part] = m as unknown as [string, string, string];
    const rows = (src: Float64Array, from: number, count: number) => src.subarray(from * c, (from + count) * c);
    if (part.startsWith('mlp')) {
      const gateUp = w(`${p}.mlp.gate_up_proj.weight`) as Float64Array;
      return part === 'mlp.gate_proj' ? rows(gateUp, 0, f) : rows(gateUp, f, f);
    }
    const qkv = w(`${p}.self_attn.qkv_proj.weight`) as Float64Array;
    if (part === 'self_attn.q_proj') return rows(qkv, 0, h * d);
    if (part === 'self_attn.k_proj') return rows(qkv, h * d, kvh * d);
    return rows(qkv, (h + kvh) * d, kvh * d);
  };
}

function phi3Reference(cfg: ModelConfig): ReferenceForward {
  return (w, ids, b, t, mask) =>
    decoderReferenceLogits(
      {
        vocabSize: 97,
        hiddenSize: 32,
        intermediateSize: 24,
        numLayers: 2,
        numHeads: 4,
        numKvHeads: 2,
        headDim: 8,
        eps: 1e-5,
        rotaryDim: 4,
        layerRope: () => longRopeTable(t > 8 ? LONG : SHORT, 4),
        layerWindow: () => 5,
        activation: 'silu',
      },
      unfuse(cfg, w),
      ids,
      b,
      t,
      mask,
    );
}

test('Phi-3 config: Phi3Config defaults, LongRoPE (longrope and su), partial rotary, fused parameter shapes', () => {
  const cfg = parseModelConfig(PHI3);
  assert.equal(cfg.modelType, 'phi3');
  assert.equal(cfg.rmsNormEps, 1e-5);
  const defaults = parseModelConfig({ ...PHI3, eos_token_id: undefined, pad_token_id: undefined });
  assert.deepEqual([defaults.bosTokenId, defaults.eosTokenIds, defaults.padTokenId], [1, [32000], 32000]);
  assert.equal(cfg.tieWordEmbeddings, false);
  assert.deepEqual([cfg.qkvBias, cfg.oBias, cfg.mlpBias], [false, false, false]);
  assert.deepEqual(cfg.slidingWindow, { size: 5, fromLayer: 0 });
  const s = cfg.ropeScaling;
  assert.ok(s?.type === 'longrope');
  assert.equal(s.factor, 8);
  assert.equal(s.originalMaxPositionEmbeddings, 8);
  assert.ok(Math.abs(s.attentionFactor - Math.SQRT2) < 1e-12);
  assert.deepEqual(parseModelConfig({ ...PHI3, rope_scaling: { ...PHI3.rope_scaling, type: 'su' } }).ropeScaling, s);
  const given = parseModelConfig({ ...PHI3, rope_scaling: { ...PHI3.rope_scaling, attention_factor: 1.2 } });
  assert.equal((given.ropeScaling as { attentionFactor: number }).attentionFactor, 1.2);
  // the engine's tables: short up to the original length, long beyond it
  for (const [len, ext] of [
    [8, SHORT],
    [9, LONG],
  ] as const) {
    const table = ropeInvFreq({ theta: 10000, scaling: s }, 4, len);
    const want = longRopeTable([...ext], 4);
    assertClose(table.invFreq, want.invFreq, { atol: 0, rtol: 1e-6 }, `inv_freq at length ${len}`);
    assert.ok(Math.abs(table.attentionFactor - want.attentionFactor) < 1e-12);
  }
  const params = expectedParametersOf(cfg);
  assert.deepEqual(params.get('model.layers.1.self_attn.qkv_proj.weight'), [(4 + 2 * 2) * 8, 32]);
  assert.deepEqual(params.get('model.layers.1.mlp.gate_up_proj.weight'), [48, 32]);
  assert.ok(!params.has('model.layers.1.self_attn.q_proj.weight'));
  assert.throws(
    () => parseModelConfig({ ...PHI3, rope_scaling: { type: 'longrope', short_factor: [1], long_factor: [1, 2] } }),
    /long_factor.*has 2 values, short_factor 1/,
  );
  assert.throws(
    () => createModel(parseModelConfig({ ...PHI3, partial_rotary_factor: 1 })),
    /short_factor.*rotary dim 8 needs 4/,
  );
  assert.throws(() => parseModelConfig({ ...PHI3, partial_rotary_factor: 2 }), /partial_rotary_factor.*\(0, 1\]/);
  assert.match(toHfConfigJson(cfg), /"partial_rotary_factor": 0\.5/);
});

test('Phi-3 logits match the float64 reference past the original length (long factors)', async () => {
  await checkLogitsParity(PHI3, phi3Reference, { t: 12 });
});

test('Phi-3 logits match the float64 reference within the original length (short factors)', async () => {
  await checkLogitsParity(PHI3, phi3Reference, { t: 7 });
});

test('Phi-3 gradients match finite differences through the fused projections', () => {
  checkGradients(PHI3, phi3Reference, [
    'model.layers.0.self_attn.qkv_proj.weight',
    'model.layers.1.self_attn.qkv_proj.weight',
    'model.layers.0.self_attn.o_proj.weight',
    'model.layers.0.mlp.gate_up_proj.weight',
    'model.layers.1.mlp.down_proj.weight',
    'model.layers.1.input_layernorm.weight',
    'model.norm.weight',
    'model.embed_tokens.weight',
    'lm_head.weight',
  ]);
});

test('a LoRA SFT step on a tiny Phi-3: qkv_proj, o_proj, gate_up_proj and down_proj of every layer train', () => {
  checkLoraStep(PHI3, 2 * 4 * 2);
});

test('phi3: greedy generation with the KV cache equals recomputing every step (left padding)', () => {
  // original_max_position_embeddings above the 15 tokens: generate's one RoPE table matches every step's
  checkCachedGeneration({ ...PHI3, original_max_position_embeddings: 32 });
});

test('pad_token_id past the vocabulary (Phi3Config default 32000): no padding row, batched generation still works', () => {
  const cfg = parseModelConfig({ ...PHI3, pad_token_id: undefined, eos_token_id: undefined });
  assert.equal(cfg.padTokenId, 32000, 'the config keeps what the file says');
  assert.equal(paddingRowOf(cfg), null);
  assert.equal(paddingRowOf(parseModelConfig(PHI3)), 96);
  // Without LongRoPE, whose table the batch's longest row picks for every row (as HF does), nor the window.
  const plain = parseModelConfig({ ...PHI3, pad_token_id: undefined, sliding_window: null, rope_scaling: null });
  assert.equal(plain.padTokenId, 32000);
  const model = createModel(plain, { seed: 3, std: 0.5 });
  try {
    const prompts = [
      [5, 6, 7, 8, 9],
      [10, 11],
    ];
    // Left padding fills the short row with a vocabulary id (not 32000, nor eos 32000); masked, so rows match alone.
    const batched = model.generateDetailed(prompts, { maxNewTokens: 4, stop: [] }).tokens;
    for (const [i, p] of prompts.entries())
      assert.deepEqual(batched[i], model.generateDetailed([p], { maxNewTokens: 4, stop: [] }).tokens[0]);
    assert.equal(model.generateDetailed(prompts, { maxNewTokens: 2 }).tokens.length, 2, 'default stops: eos 32000');
  } finally {
    model.dispose();
  }
});
