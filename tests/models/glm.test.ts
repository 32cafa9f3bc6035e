/**
 * ChatGLM3 (ChatGLMModel) and GLM-4 (GlmForCausalLM) on tiny random checkpoints this test writes: saved as HF
 * folders in their own key names, loaded back, and compared with an independent float64 forward written from the
 * published architectures (tests/util/glm-reference.ts): logits, the shifted loss, and full-training gradients
 * against central finite differences. Then LoRA with `all` targets finds the modules LLaMA-Factory names.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Generator, mul, scope, sumAll, Tensor, uniform_ } from '../../src/engine/index.js';
import { type ModelConfig, parseModelConfig } from '../../src/io/model-config.js';
import { createModel, loadModel } from '../../src/models/causal-lm.js';
import { glmRotaryOrder } from '../../src/models/glm-rotary.js';
import { assertClose } from '../util/assert.js';
import { type GlmReferenceConfig, type GlmWeights, glmReferenceLogits, referenceLoss } from '../util/glm-reference.js';
import { TINY_FAMILY_SIZES } from '../util/tiny-config.js';

const CHATGLM3 = {
  architectures: ['ChatGLMModel'],
  model_type: 'chatglm',
  padded_vocab_size: 97,
  hidden_size: 32,
  ffn_hidden_size: 48,
  num_layers: 2,
  num_attention_heads: 4,
  multi_query_attention: true,
  multi_query_group_num: 2,
  // H * D = 48 != hidden: dense is [32, 48]; rotary over 6 of 12 dims (3 pairs) and 6 pass through
  kv_channels: 12,
  layernorm_epsilon: 1e-5,
  rmsnorm: true,
  add_qkv_bias: true,
  add_bias_linear: false,
  apply_residual_connection_post_layernorm: false,
  post_layer_norm: true,
  seq_length: 64,
  rope_ratio: 0.5,
  original_rope: true,
  eos_token_id: 2,
  pad_token_id: 0,
  initializer_range: 0.2,
};

const GLM4 = {
  ...TINY_FAMILY_SIZES,
  architectures: ['GlmForCausalLM'],
  model_type: 'glm',
  head_dim: 12,
  partial_rotary_factor: 0.5,
  attention_bias: true,
  rope_theta: 10000,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
  pad_token_id: 0,
  eos_token_id: [1, 2],
};

type Weights = Map<string, Float64Array>;

function cat(...parts: (Float64Array | undefined)[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + (p as Float64Array).length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p as Float64Array, at);
    at += (p as Float64Array).length;
  }
  return out;
}

function get(w: Weights, name: string): Float64Array {
  const t = w.get(name);
  if (!t) throw new Error(`no weight ${name}`);
  return t;
}

/**
 * ChatGLM's query_key_value rows as [q | k | v]: without multi_query_attention the checkpoint holds them per head,
 * [q_h | k_h | v_h] (modeling_chatglm views the output as [.., H, 3D] and splits the last dim).
 */
function qkvRows(cfg: ModelConfig, rows: Float64Array | undefined, width: number): Float64Array | null {
  if (!rows) return null;
  if (!cfg.qkvPerHead) return rows;
  const { numAttentionHeads: h, headDim: d } = cfg;
  const out = new Float64Array(rows.length);
  for (let head = 0; head < h; head++)
    for (let part = 0; part < 3; part++)
      out.set(
        rows.subarray((head * 3 + part) * d * width, (head * 3 + part + 1) * d * width),
        (part * h + head) * d * width,
      );
  return out;
}

/** The reference's view of a ChatGLM3 or GLM-4 checkpoint, by its HF names. */
function referenceWeights(cfg: ModelConfig, w: Weights): GlmWeights {
  if (cfg.modelType === 'chatglm')
    return {
      embed: get(w, 'transformer.embedding.word_embeddings.weight'),
      head: get(w, 'transformer.output_layer.weight'),
      finalNorm: get(w, 'transformer.encoder.final_layernorm.weight'),
      layer: (i) => {
        const p = `transformer.encoder.layers.${i}`;
        return {
          inputNorm: get(w, `${p}.input_layernorm.weight`),
          postNorm: get(w, `${p}.post_attention_layernorm.weight`),
          qkv: qkvRows(cfg, get(w, `${p}.self_attention.query_key_value.weight`), cfg.hiddenSize) as Float64Array,
          qkvBias: qkvRows(cfg, w.get(`${p}.self_attention.query_key_value.bias`), 1),
          o: get(w, `${p}.self_attention.dense.weight`),
          oBias: w.get(`${p}.self_attention.dense.bias`) ?? null,
          gateUp: get(w, `${p}.mlp.dense_h_to_4h.weight`),
          down: get(w, `${p}.mlp.dense_4h_to_h.weight`),
        };
      },
    };
  return {
    embed: get(w, 'model.embed_tokens.weight'),
    head: get(w, 'lm_head.weight'),
    finalNorm: get(w, 'model.norm.weight'),
    layer: (i) => {
      const a = `model.layers.${i}.self_attn`;
      const bias = (n: string) => w.get(`${a}.${n}_proj.bias`);
      return {
        inputNorm: get(w, `model.layers.${i}.input_layernorm.weight`),
        postNorm: get(w, `model.layers.${i}.post_attention_layernorm.weight`),
        qkv: cat(get(w, `${a}.q_proj.weight`), get(w, `${a}.k_proj.weight`), get(w, `${a}.v_proj.weight`)),
        qkvBias: bias('q') ? cat(bias('q'), bias('k'), bias('v')) : null,
        o: get(w, `${a}.o_proj.weight`),
        oBias: w.get(`${a}.o_proj.bias`) ?? null,
        gateUp: get(w, `model.layers.${i}.mlp.gate_up_proj.weight`),
        down: get(w, `model.layers.${i}.mlp.down_proj.weight`),
      };
    },
  };
}

function referenceConfig(cfg: ModelConfig, raw: Record<string, unknown>): GlmReferenceConfig {
  const chatglm = cfg.modelType === 'chatglm';
  return {
    vocab: chatglm ? (raw.padded_vocab_size as number) : (raw.vocab_size as number),
    hidden: raw.hidden_size as number,
    ffn: chatglm ? (raw.ffn_hidden_size as number) : (raw.intermediate_size as number),
    layers: chatglm ? (raw.num_layers as number) : (raw.num_hidden_layers as number),
    heads: raw.num_attention_heads as number,
    groups: chatglm
      ? raw.multi_query_attention
        ? (raw.multi_query_group_num as number)
        : (raw.num_attention_heads as number)
      : (raw.num_key_value_heads as number),
    headDim: chatglm ? (raw.kv_channels as number) : (raw.head_dim as number),
    // ChatGLM: RotaryEmbedding(kv_channels // 2); GLM-4: head_dim * partial_rotary_factor
    rotaryDim: chatglm
      ? (raw.kv_channels as number) / 2
      : (raw.head_dim as number) * (raw.partial_rotary_factor as number),
    base: chatglm ? 10000 * (raw.rope_ratio as number) : (raw.rope_theta as number),
    eps: chatglm ? (raw.layernorm_epsilon as number) : (raw.rms_norm_eps as number),
    residualPostNorm: raw.apply_residual_connection_post_layernorm === true,
  };
}

const VARIANTS: [string, Record<string, unknown>][] = [
  ['ChatGLM3 (multi-query groups, qkv bias)', CHATGLM3],
  [
    'ChatGLM3 with apply_residual_connection_post_layernorm, no multi-query, rope_ratio 1',
    {
      ...CHATGLM3,
      architectures: ['ChatGLMForConditionalGeneration'],
      multi_query_attention: false,
      apply_residual_connection_post_layernorm: true,
      rope_ratio: 1,
    },
  ],
  ['GLM-4 (GlmForCausalLM: q/k/v bias, fused gate_up_proj, partial rotary)', GLM4],
];

function randomizeVectors(model: { namedParameters(): [string, Tensor][] }, seed: number): void {
  const gen = new Generator(seed);
  for (const [, t] of model.namedParameters()) if (t.ndim === 1) uniform_(t, gen, 0.5, 1.5);
}

test('GLM rotary order puts pair (2i, 2i+1) at (i, D/2 + i) and keeps every dim once', () => {
  assert.deepEqual(glmRotaryOrder(12, 6), [0, 2, 4, 6, 7, 8, 1, 3, 5, 9, 10, 11]);
  assert.deepEqual(glmRotaryOrder(4, 4), [0, 2, 1, 3]);
  assert.throws(() => glmRotaryOrder(12, 5), /must be even/);
});

for (const [label, raw] of VARIANTS) {
  test(`${label}: save, load, logits and loss match the float64 reference`, async () => {
    const cfg = parseModelConfig(raw);
    const original = createModel(cfg, { seed: 3 });
    randomizeVectors(original, 11);
    const dir = mkdtempSync(join(tmpdir(), 'lmforge-glm-'));
    try {
      original.save(dir);
      const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      assert.deepEqual(saved.architectures, raw.architectures);
      for (const key of Object.keys(raw)) if (key !== 'initializer_range') assert.deepEqual(saved[key], raw[key], key);
      const model = await loadModel(dir);
      const weights = new Map(model.namedParameters().map(([n, t]) => [n, Float64Array.from(t.toFloat32Array())]));
      const b = 2;
      const t = 12;
      const v = cfg.vocabSize;
      const ids = Int32Array.from({ length: b * t }, (_, i) => (i * 37 + 5) % v);
      const mask = Int32Array.from({ length: b * t }, (_, i) => (i >= b * t - 3 ? 0 : 1)); // row 1 right-padded
      const refCfg = referenceConfig(cfg, raw);
      const expected = glmReferenceLogits(refCfg, referenceWeights(cfg, weights), ids, b, t, mask);
      const actual = scope(() =>
        model
          .forward({ inputIds: { data: ids, shape: [b, t] }, attentionMask: { data: mask, shape: [b, t] } })
          .logits.toFloat32Array(),
      );
      const real = (_: number, i: number) => mask[Math.floor(i / v)] === 1;
      assertClose(actual.filter(real), expected.filter(real), { atol: 2e-5, rtol: 1e-4 }, label);

      const full = glmReferenceLogits(refCfg, referenceWeights(cfg, weights), ids, b, t);
      const loss = scope(
        () => model.forward({ inputIds: { data: ids, shape: [b, t] }, labels: { data: ids, shape: [b, t] } }).loss,
      );
      assert.ok(loss);
      assertClose([loss.item()], [referenceLoss(full, ids, b, t, v)], { atol: 1e-5, rtol: 1e-5 }, 'loss');
      model.dispose();
    } finally {
      original.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`${label}: full-training gradients match finite differences of the float64 reference`, () => {
    const cfg = parseModelConfig(raw);
    const model = createModel(cfg, { seed: 5 });
    randomizeVectors(model, 13);
    model.setFullTraining();
    const b = 1;
    const t = 7;
    const ids = Int32Array.from({ length: b * t }, (_, i) => (i * 29 + 3) % cfg.vocabSize);
    const coef = Float64Array.from({ length: b * t * cfg.vocabSize }, (_, i) => Math.sin(i * 0.7));
    const weights = new Map(model.namedParameters().map(([n, p]) => [n, Float64Array.from(p.toFloat32Array())]));
    const refCfg = referenceConfig(cfg, raw);
    const objective = () =>
      glmReferenceLogits(refCfg, referenceWeights(cfg, weights), ids, b, t).reduce(
        (s, x, i) => s + x * (coef[i] as number),
        0,
      );
    scope(() => {
      const { logits } = model.forward({ inputIds: { data: ids, shape: [b, t] } });
      sumAll(mul(logits, Tensor.from(Float32Array.from(coef), logits.shape))).backward();
    });
    const chatglm = cfg.modelType === 'chatglm';
    const names = chatglm
      ? [
          'transformer.encoder.layers.0.self_attention.query_key_value.weight',
          'transformer.encoder.layers.0.self_attention.dense.weight',
          'transformer.encoder.layers.0.mlp.dense_h_to_4h.weight',
          'transformer.encoder.layers.1.mlp.dense_4h_to_h.weight',
          'transformer.encoder.layers.1.input_layernorm.weight',
          'transformer.encoder.final_layernorm.weight',
          'transformer.embedding.word_embeddings.weight',
          'transformer.output_layer.weight',
        ]
      : [
          'model.layers.0.self_attn.q_proj.weight',
          'model.layers.0.self_attn.k_proj.weight',
          'model.layers.0.self_attn.k_proj.bias',
          'model.layers.0.self_attn.o_proj.weight',
          'model.layers.0.mlp.gate_up_proj.weight',
          'model.layers.1.mlp.down_proj.weight',
          'model.norm.weight',
          'model.embed_tokens.weight',
        ];
    if (chatglm && cfg.qkvBias) names.push('transformer.encoder.layers.1.self_attention.query_key_value.bias');
    const params = new Map(model.namedParameters());
    for (const name of names) {
      const w = weights.get(name) as Float64Array;
      const param = params.get(name);
      assert.ok(param?.grad, `${name} has no gradient`);
      const grad = param.grad.toFloat32Array();
      // first, a few inside, the middle (the k rows of a fused qkv, the up half of a fused gate|up), the last
      const rows = param.shape[0] as number;
      const cols = param.ndim === 2 ? (param.shape[1] as number) : 1;
      const probes = [0, 5, Math.floor(rows / 2) * cols + 1, Math.floor((rows * 3) / 4) * cols + 2, w.length - 1];
      for (const i of probes) {
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

test("LoRA 'all' targets LLaMA-Factory's modules (ChatGLM3: query_key_value, dense, dense_h_to_4h, dense_4h_to_h; not output_layer)", () => {
  for (const [raw, want] of [
    [CHATGLM3, ['dense', 'dense_4h_to_h', 'dense_h_to_4h', 'query_key_value']],
    [GLM4, ['down_proj', 'gate_up_proj', 'k_proj', 'o_proj', 'q_proj', 'v_proj']],
  ] as const) {
    const model = createModel(parseModelConfig(raw), { seed: 1 });
    const cfg = model.addLora({ r: 2, targetModules: 'all' });
    assert.deepEqual([...(cfg.targetModules as string[])].sort(), want);
    const dir = mkdtempSync(join(tmpdir(), 'lmforge-glm-lora-'));
    try {
      // one SFT-style step: the loss reaches every adapter
      scope(() => {
        const ids = Int32Array.from({ length: 8 }, (_, i) => (i * 7 + 1) % 97);
        const { loss } = model.forward({
          inputIds: { data: ids, shape: [1, 8] },
          labels: { data: ids, shape: [1, 8] },
        });
        (loss as Tensor).backward();
      });
      const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad);
      assert.equal(trainable.length, 2 * 2 * want.length, 'A and B per targeted Linear per layer');
      for (const [name, p] of trainable) {
        assert.ok(!name.includes('output_layer') && !name.includes('lm_head'), name);
        if (name.endsWith('lora_A.weight')) continue;
        assert.ok(
          p.grad?.toFloat32Array().some((x) => x !== 0),
          `${name} got a gradient`,
        );
      }
      model.saveAdapter(dir);
      const adapterConfig = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
      assert.deepEqual([...adapterConfig.target_modules].sort(), want);
      assert.ok(readdirSync(dir).includes('adapter_model.safetensors'));
    } finally {
      model.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
