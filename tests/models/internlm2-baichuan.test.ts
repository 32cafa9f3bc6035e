/**
 * InternLM2 (wqkv grouped per KV head, w1/w3/w2, attention.wo, tok_embeddings, output) and Baichuan 2 (W_pack,
 * NormHead, ALiBi for the 13B layout): config keys, logits and finite-difference gradients against the float64
 * reference (the test unpacks the fused rows itself, stating each layout), and LoRA SFT steps over the families' own
 * module names.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ropeInvFreq, scope, Tensor } from '../../src/engine/index.js';
import { type ModelConfig, parseModelConfig, ropeConfigOf, toHfConfigJson } from '../../src/io/model-config.js';
import { baichuanAlibiSlopes, baichuanUsesAlibi } from '../../src/models/baichuan.js';
import { createModel } from '../../src/models/causal-lm.js';
import { copyInto } from '../../src/models/parameters.js';
import { expectedParametersOf } from '../../src/models/registry.js';
import { decoderReferenceLogits } from '../util/decoder-reference.js';
import {
  checkCachedGeneration,
  checkGradients,
  checkLogitsParity,
  checkLoraStep,
  type ReferenceForward,
} from '../util/family-checks.js';

const INTERNLM2 = {
  architectures: ['InternLM2ForCausalLM'],
  vocab_size: 97,
  hidden_size: 32,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  bias: true,
  rope_theta: 1000000,
  max_position_embeddings: 8,
  rope_scaling: { type: 'dynamic', factor: 2 },
  initializer_range: 0.2,
};

type W = (n: string) => Float64Array | undefined;

/** Rows [unit * D, (unit + 1) * D) of a fused [U * D, C] weight (or [U * D] bias) for each unit, concatenated. */
function units(src: Float64Array, list: number[], d: number, width: number): Float64Array {
  const out = new Float64Array(list.length * d * width);
  list.forEach((u, i) => {
    out.set(src.subarray(u * d * width, (u + 1) * d * width), i * d * width);
  });
  return out;
}

/** InternLM2's wqkv per KV head g: [q heads g*G .. g*G+G-1, k_g, v_g] with G = H / KVH, read back into q/k/v. */
function internlm2Weights(cfg: ModelConfig, w: W): W {
  const { headDim: d, numAttentionHeads: h, numKeyValueHeads: kvh, hiddenSize: c } = cfg;
  const g = h / kvh;
  const qUnits = Array.from({ length: h }, (_, i) => Math.floor(i / g) * (g + 2) + (i % g));
  const kUnits = Array.from({ length: kvh }, (_, j) => j * (g + 2) + g);
  const vUnits = kUnits.map((u) => u + 1);
  const renames: [RegExp, string][] = [
    [/^model\.embed_tokens\./, 'model.tok_embeddings.'],
    [/\.input_layernorm\./, '.attention_norm.'],
    [/\.post_attention_layernorm\./, '.ffn_norm.'],
    [/\.self_attn\.o_proj\./, '.attention.wo.'],
    [/\.mlp\.gate_proj\./, '.feed_forward.w1.'],
    [/\.mlp\.up_proj\./, '.feed_forward.w3.'],
    [/\.mlp\.down_proj\./, '.feed_forward.w2.'],
    [/^lm_head\./, 'output.'],
  ];
  return (name) => {
    const m = /^(model\.layers\.\d+)\.self_attn\.([qkv])_proj\.(weight|bias)$/.exec(name);
    if (m) {
      const [, p, which, kind] = m as unknown as [string, string, string, string];
      const fused = w(`${p}.attention.wqkv.${kind}`);
      if (!fused) return undefined;
      const list = which === 'q' ? qUnits : which === 'k' ? kUnits : vUnits;
      return units(fused, list, d, kind === 'weight' ? c : 1);
    }
    let renamed = name;
    for (const [re, to] of renames) renamed = renamed.replace(re, to);
    return w(renamed);
  };
}

function internlm2Reference(cfg: ModelConfig): ReferenceForward {
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
        eps: 1e-6,
        layerRope: () => ropeInvFreq(ropeConfigOf(cfg), 8, t), // dynamic NTK past 8 positions
        activation: 'silu',
      },
      internlm2Weights(cfg, w),
      ids,
      b,
      t,
      mask,
    );
}

test('InternLM2 config: bias on wqkv and wo, the grouped parameter names, LoRA all finds wqkv/wo/w1/w3/w2', () => {
  const cfg = parseModelConfig(INTERNLM2);
  assert.equal(cfg.modelType, 'internlm2');
  assert.deepEqual([cfg.qkvBias, cfg.oBias, cfg.mlpBias], [true, true, false]);
  assert.deepEqual([cfg.bosTokenId, cfg.eosTokenIds, cfg.padTokenId], [1, [2], 0]);
  assert.equal(parseModelConfig({ ...INTERNLM2, bias: false }).qkvBias, false);
  assert.match(toHfConfigJson(parseModelConfig({ ...INTERNLM2, bias: false })), /"bias": false/);
  const params = expectedParametersOf(cfg);
  assert.deepEqual(params.get('model.tok_embeddings.weight'), [97, 32]);
  assert.deepEqual(params.get('model.layers.1.attention.wqkv.weight'), [64, 32]);
  assert.deepEqual(params.get('model.layers.1.attention.wqkv.bias'), [64]);
  assert.deepEqual(params.get('model.layers.1.attention.wo.bias'), [32]);
  assert.deepEqual(params.get('model.layers.1.feed_forward.w2.weight'), [32, 24]);
  assert.deepEqual(params.get('output.weight'), [97, 32]);
  assert.ok(!params.has('lm_head.weight'));
  const model = createModel(cfg);
  assert.deepEqual(
    model
      .namedParameters()
      .map(([n]) => n)
      .sort(),
    [...params.keys()].sort(),
    'the module tree holds exactly the checkpoint names',
  );
  model.addLora({ r: 2 });
  assert.deepEqual(model.adapterConfig?.targetModules, ['wqkv', 'wo', 'w1', 'w3', 'w2']);
  model.dispose();
});

test('InternLM2 logits match the float64 reference (grouped wqkv, biases, dynamic NTK RoPE)', async () => {
  await checkLogitsParity(INTERNLM2, internlm2Reference);
});

test('InternLM2 gradients match finite differences through wqkv', () => {
  checkGradients(INTERNLM2, internlm2Reference, [
    'model.layers.0.attention.wqkv.weight',
    'model.layers.1.attention.wqkv.bias',
    'model.layers.0.attention.wo.weight',
    'model.layers.0.feed_forward.w1.weight',
    'model.layers.1.feed_forward.w2.weight',
    'model.layers.0.attention_norm.weight',
    'model.layers.1.ffn_norm.weight',
    'model.tok_embeddings.weight',
    'output.weight',
  ]);
});

test('a LoRA SFT step on a tiny InternLM2: wqkv, wo, w1, w3, w2 of every layer train, output does not', () => {
  checkLoraStep(INTERNLM2, 2 * 5 * 2);
});

// 6 heads: not a power of two, so the interleaved slopes are used.
const BAICHUAN = {
  architectures: ['BaichuanForCausalLM'],
  vocab_size: 97,
  hidden_size: 48,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 6,
  model_max_length: 64,
  initializer_range: 0.2,
  z_loss_weight: 0,
};

// _get_interleave(6): the 4-head slopes 2^-2, 2^-4, 2^-6, 2^-8, then every other 8-head slope (2^-1, 2^-3)
const SLOPES_6 = [0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125];

function baichuanWeights(cfg: ModelConfig, w: W): W {
  const { hiddenSize: c } = cfg;
  return (name) => {
    const m = /^(model\.layers\.\d+)\.self_attn\.([qkv])_proj\.weight$/.exec(name);
    if (!m) return w(name);
    const [, p, which] = m as unknown as [string, string, string];
    const pack = w(`${p}.self_attn.W_pack.weight`) as Float64Array;
    const i = 'qkv'.indexOf(which);
    return pack.subarray(i * c * c, (i + 1) * c * c);
  };
}

function baichuanReference(cfg: ModelConfig): ReferenceForward {
  return (w, ids, b, t, mask) =>
    decoderReferenceLogits(
      {
        vocabSize: 97,
        hiddenSize: 48,
        intermediateSize: 24,
        numLayers: 2,
        numHeads: 6,
        numKvHeads: 6,
        headDim: 8,
        eps: 1e-6,
        layerRope: () => null,
        alibiSlopes: SLOPES_6,
        activation: 'silu',
        normHead: true,
      },
      baichuanWeights(cfg, w),
      ids,
      b,
      t,
      mask,
    );
}

test('Baichuan 2 config: W_pack, NormHead, ALiBi slopes as _get_interleave, RoPE for the 7B shape', () => {
  const cfg = parseModelConfig(BAICHUAN);
  assert.equal(cfg.modelType, 'baichuan');
  assert.equal(cfg.maxPositionEmbeddings, 64, 'model_max_length');
  assert.deepEqual([cfg.qkvBias, cfg.oBias], [false, false]);
  assert.deepEqual(baichuanAlibiSlopes(6), SLOPES_6);
  assert.deepEqual(
    baichuanAlibiSlopes(8),
    Array.from({ length: 8 }, (_, i) => 2 ** -(i + 1)),
  );
  assert.equal(baichuanAlibiSlopes(40).length, 40);
  assert.equal(baichuanUsesAlibi(cfg), true);
  assert.equal(baichuanUsesAlibi(parseModelConfig({ ...BAICHUAN, hidden_size: 4096, num_attention_heads: 32 })), false);
  const params = expectedParametersOf(cfg);
  assert.deepEqual(params.get('model.layers.1.self_attn.W_pack.weight'), [144, 48]);
  assert.deepEqual(params.get('model.layers.1.mlp.up_proj.weight'), [24, 48]);
  assert.deepEqual(params.get('lm_head.weight'), [97, 48]);
  assert.throws(
    () => createModel(parseModelConfig({ ...BAICHUAN, z_loss_weight: 0.1 })),
    /z_loss_weight.*not supported/,
  );
});

test('Baichuan 2 logits match the float64 reference (ALiBi, NormHead)', async () => {
  await checkLogitsParity(BAICHUAN, baichuanReference);
});

test('Baichuan 2 gradients match finite differences, the head through its normalisation', () => {
  checkGradients(BAICHUAN, baichuanReference, [
    'model.layers.0.self_attn.W_pack.weight',
    'model.layers.1.self_attn.o_proj.weight',
    'model.layers.0.mlp.gate_proj.weight',
    'model.layers.1.mlp.down_proj.weight',
    'model.layers.1.post_attention_layernorm.weight',
    'model.norm.weight',
    'model.embed_tokens.weight',
    'lm_head.weight',
  ]);
});

test('NormHead: a head row scaled by 3 gives the same logits (rows are normalised); the fused loss agrees', () => {
  const cfg = parseModelConfig(BAICHUAN);
  const ids = [[3, 14, 15, 92, 65]];
  const logitsOf = (m: ReturnType<typeof createModel>) =>
    scope(() => m.forward({ inputIds: ids }).logits.toFloat32Array());
  const model = createModel(cfg, { seed: 7 });
  const scaledModel = createModel(cfg, { seed: 7 });
  const head = scaledModel.namedParameters().find(([n]) => n === 'lm_head.weight')?.[1];
  assert.ok(head);
  const scaled = head.toFloat32Array().map((x, i) => (i < 48 ? x * 3 : x)); // row 0 times 3
  scope(() => copyInto(Tensor.from(scaled, head.shape), head));
  const before = logitsOf(model);
  const after = logitsOf(scaledModel);
  for (let i = 0; i < before.length; i++)
    assert.ok(Math.abs((after[i] as number) - (before[i] as number)) < 1e-4, `logit ${i}`);
  scaledModel.dispose();
  // The fused loss (normalised rows into linearCrossEntropy) equals the logits path.
  scope(() => {
    const viaLogits = model.forward({ inputIds: ids, labels: ids }).loss?.item() as number;
    const fused = model.forward({ inputIds: ids, labels: ids, returnLogits: false }).loss.item();
    assert.ok(Math.abs(viaLogits - fused) < 1e-5, `${viaLogits} vs ${fused}`);
  });
  model.dispose();
});

test('a LoRA SFT step on a tiny Baichuan 2: W_pack, o_proj and the MLP train', () => {
  checkLoraStep(BAICHUAN, 2 * 5 * 2);
});

test('internlm2: greedy generation with the KV cache equals recomputing every step (left padding)', () => {
  checkCachedGeneration({ ...INTERNLM2, max_position_embeddings: 64 });
});

test('baichuan: greedy generation with the KV cache equals recomputing every step (left padding)', () => {
  checkCachedGeneration(BAICHUAN);
});
