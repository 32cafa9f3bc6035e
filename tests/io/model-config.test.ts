import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  expectedParameters,
  FormatError,
  type ModelConfig,
  parseModelConfig,
  readModelConfig,
  toHfConfigJson,
} from '../../src/io/index.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'parity', 'llama-tiny');
const tmp = mkdtempSync(join(tmpdir(), 'lmforge-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A small config dict; the test overrides what it is about. */
function base(arch: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: [arch],
    vocab_size: 32,
    hidden_size: 16,
    intermediate_size: 40,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    ...extra,
  };
}

const shape = (cfg: ModelConfig, name: string) => expectedParameters(cfg).get(name);

test('llama fixture config parses to the documented model', () => {
  const cfg = readModelConfig(FIXTURE);
  assert.equal(cfg.architecture, 'LlamaForCausalLM');
  assert.equal(cfg.vocabSize, 256);
  assert.equal(cfg.headDim, 16);
  assert.equal(cfg.numKeyValueHeads, 2);
  assert.equal(cfg.rmsNormEps, 1e-5);
  assert.equal(cfg.ropeTheta, 10000);
  assert.equal(cfg.ropeScaling, null);
  assert.deepEqual(cfg.eosTokenIds, [2]);
  assert.equal(cfg.bosTokenId, 1);
  assert.equal(cfg.padTokenId, 0);
  assert.equal(cfg.torchDtype, 'f32');
  assert.equal(cfg.tieWordEmbeddings, false);
  assert.equal(cfg.slidingWindow, null);
  const p = expectedParameters(cfg);
  assert.equal(p.size, 21);
  assert.deepEqual([...p.keys()].slice(0, 4), [
    'model.embed_tokens.weight',
    'model.layers.0.self_attn.q_proj.weight',
    'model.layers.0.self_attn.k_proj.weight',
    'model.layers.0.self_attn.v_proj.weight',
  ]);
  assert.deepEqual(p.get('model.layers.0.self_attn.q_proj.weight'), [64, 64]);
  assert.deepEqual(p.get('model.layers.1.self_attn.k_proj.weight'), [32, 64]);
  assert.deepEqual(p.get('model.layers.1.self_attn.o_proj.weight'), [64, 64]);
  assert.deepEqual(p.get('model.layers.0.mlp.down_proj.weight'), [64, 176]);
  assert.deepEqual(p.get('lm_head.weight'), [256, 64]);
});

test('config.json round-trips byte for byte', () => {
  const text = readFileSync(join(FIXTURE, 'config.json'), 'utf8');
  assert.equal(toHfConfigJson(readModelConfig(FIXTURE)), text);
  const saved = toHfConfigJson(readModelConfig(FIXTURE), { torchDtype: 'bf16' });
  assert.match(saved, /"torch_dtype": "bfloat16"/);
  assert.match(saved, /"rms_norm_eps": 1e-05,/);
  assert.match(saved, /"rope_theta": 10000\.0,/);
});

test('llama: defaults, attention_bias and mlp_bias, tied embeddings', () => {
  const cfg = parseModelConfig(base('LlamaForCausalLM'));
  assert.equal(cfg.numKeyValueHeads, 4);
  assert.equal(cfg.headDim, 4);
  assert.equal(cfg.rmsNormEps, 1e-6);
  assert.equal(cfg.maxPositionEmbeddings, 2048);
  assert.equal(shape(cfg, 'model.layers.0.self_attn.q_proj.bias'), undefined);
  const biased = parseModelConfig(
    base('LlamaForCausalLM', { attention_bias: true, mlp_bias: true, tie_word_embeddings: true, head_dim: 8 }),
  );
  assert.deepEqual(shape(biased, 'model.layers.0.self_attn.q_proj.weight'), [32, 16]);
  assert.deepEqual(shape(biased, 'model.layers.0.self_attn.q_proj.bias'), [32]);
  assert.deepEqual(shape(biased, 'model.layers.0.self_attn.o_proj.weight'), [16, 32]);
  assert.deepEqual(shape(biased, 'model.layers.0.self_attn.o_proj.bias'), [16]);
  assert.deepEqual(shape(biased, 'model.layers.1.mlp.down_proj.bias'), [16]);
  assert.deepEqual(shape(biased, 'model.layers.1.mlp.up_proj.bias'), [40]);
  assert.equal(shape(biased, 'lm_head.weight'), undefined);
  const json = JSON.parse(toHfConfigJson(biased)) as Record<string, unknown>;
  assert.equal(json.attention_bias, true);
  assert.equal(json.head_dim, 8);
  assert.equal(json.tie_word_embeddings, true);
  assert.deepEqual(parseModelConfig(json).qkvBias, true);
});

test('mistral: no biases; sliding window recorded for every layer', () => {
  const cfg = parseModelConfig(base('MistralForCausalLM', { num_key_value_heads: 2, attention_bias: true }));
  assert.equal(cfg.qkvBias, false);
  assert.equal(cfg.oBias, false);
  assert.deepEqual(cfg.slidingWindow, { size: 4096, fromLayer: 0 });
  assert.deepEqual(shape(cfg, 'model.layers.0.self_attn.k_proj.weight'), [8, 16]);
  assert.equal(parseModelConfig(base('MistralForCausalLM', { sliding_window: null })).slidingWindow, null);
  assert.deepEqual(parseModelConfig(base('MistralForCausalLM', { sliding_window: 64 })).slidingWindow, {
    size: 64,
    fromLayer: 0,
  });
});

test('qwen2: q/k/v biases always, o_proj never; sliding window only when enabled, from max_window_layers', () => {
  const cfg = parseModelConfig(base('Qwen2ForCausalLM', { num_key_value_heads: 2, tie_word_embeddings: true }));
  assert.equal(cfg.qkvBias, true);
  assert.equal(cfg.oBias, false);
  assert.deepEqual(shape(cfg, 'model.layers.0.self_attn.q_proj.bias'), [16]);
  assert.deepEqual(shape(cfg, 'model.layers.0.self_attn.k_proj.bias'), [8]);
  assert.deepEqual(shape(cfg, 'model.layers.0.self_attn.v_proj.bias'), [8]);
  assert.equal(shape(cfg, 'model.layers.0.self_attn.o_proj.bias'), undefined);
  assert.equal(shape(cfg, 'lm_head.weight'), undefined);
  assert.equal(cfg.slidingWindow, null);
  assert.equal(cfg.bosTokenId, null);
  const sw = parseModelConfig(
    base('Qwen2ForCausalLM', { use_sliding_window: true, sliding_window: 32, max_window_layers: 1 }),
  );
  assert.deepEqual(sw.slidingWindow, { size: 32, fromLayer: 1 });
  // max_window_layers >= layers: no layer slides.
  const none = parseModelConfig(base('Qwen2ForCausalLM', { use_sliding_window: true, max_window_layers: 28 }));
  assert.equal(none.slidingWindow, null);
});

test('qwen3: per-head q/k norm, head_dim defaults to 128, attention_bias applies to q/k/v/o', () => {
  const cfg = parseModelConfig(base('Qwen3ForCausalLM', { num_key_value_heads: 2 }));
  assert.equal(cfg.headDim, 128);
  assert.equal(cfg.qkNorm, true);
  assert.deepEqual(shape(cfg, 'model.layers.0.self_attn.q_proj.weight'), [512, 16]);
  assert.deepEqual(shape(cfg, 'model.layers.0.self_attn.q_norm.weight'), [128]);
  assert.deepEqual(shape(cfg, 'model.layers.1.self_attn.k_norm.weight'), [128]);
  assert.equal(shape(cfg, 'model.layers.0.self_attn.q_proj.bias'), undefined);
  const small = parseModelConfig(base('Qwen3ForCausalLM', { head_dim: 8, attention_bias: true }));
  assert.deepEqual(shape(small, 'model.layers.0.self_attn.q_norm.weight'), [8]);
  assert.deepEqual(shape(small, 'model.layers.0.self_attn.o_proj.bias'), [16]);
  assert.deepEqual(
    [...expectedParameters(small).keys()].filter((k) => k.startsWith('model.layers.0.self_attn')).slice(-2),
    ['model.layers.0.self_attn.q_norm.weight', 'model.layers.0.self_attn.k_norm.weight'],
  );
});

test('rope_scaling variants: linear, dynamic, llama3, legacy `type`, rope_parameters', () => {
  const rope = (s: unknown, extra = {}) => parseModelConfig(base('LlamaForCausalLM', { rope_scaling: s, ...extra }));
  assert.deepEqual(rope({ type: 'linear', factor: 2.0 }).ropeScaling, { type: 'linear', factor: 2 });
  // dynamic NTK scales relative to max_position_embeddings (HF), which the engine needs alongside the factor
  assert.deepEqual(rope({ rope_type: 'dynamic', factor: 4 }, { max_position_embeddings: 4096 }).ropeScaling, {
    type: 'dynamic',
    factor: 4,
    originalMaxPositionEmbeddings: 4096,
  });
  assert.throws(() => rope(null, { partial_rotary_factor: 0.5 }), /partial_rotary_factor/);
  assert.equal(rope({ rope_type: 'default' }).ropeScaling, null);
  const l3 = rope(
    {
      rope_type: 'llama3',
      factor: 8.0,
      low_freq_factor: 1.0,
      high_freq_factor: 4.0,
      original_max_position_embeddings: 8192,
    },
    { rope_theta: 500000.0 },
  );
  assert.deepEqual(l3.ropeScaling, {
    type: 'llama3',
    factor: 8,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositionEmbeddings: 8192,
  });
  assert.equal(l3.ropeTheta, 500000);
  assert.match(toHfConfigJson(l3), /"factor": 8\.0,\n {4}"high_freq_factor": 4\.0,/);
  const v5 = parseModelConfig(
    base('LlamaForCausalLM', { rope_parameters: { rope_type: 'linear', factor: 2.0, rope_theta: 1000.0 } }),
  );
  assert.deepEqual(v5.ropeScaling, { type: 'linear', factor: 2 });
  assert.equal(v5.ropeTheta, 1000);
  assert.throws(() => rope({ rope_type: 'yarn', factor: 4 }), /"rope_scaling\.rope_type": "yarn" is not supported/);
  assert.throws(() => rope({ rope_type: 'llama3', factor: 8 }), /"rope_scaling\.low_freq_factor": is required/);
  assert.throws(() => rope({ type: 'linear', factor: 0.5 }), /"rope_scaling\.factor": must be >= 1/);
});

test('eos_token_id may be a list; it survives saving', () => {
  const cfg = parseModelConfig(
    base('LlamaForCausalLM', { eos_token_id: [128001, 128008, 128009], bos_token_id: 128000 }),
  );
  assert.deepEqual(cfg.eosTokenIds, [128001, 128008, 128009]);
  assert.match(toHfConfigJson(cfg), /"eos_token_id": \[\n {4}128001,\n {4}128008,\n {4}128009\n {2}\]/);
  assert.deepEqual(parseModelConfig(base('LlamaForCausalLM', { eos_token_id: null })).eosTokenIds, []);
});

test('bad configs name the file and key and say what is supported', () => {
  const path = join(tmp, 'config.json');
  const write = (o: unknown) => writeFileSync(path, typeof o === 'string' ? o : JSON.stringify(o));
  write(base('GPT2LMHeadModel'));
  assert.throws(
    () => readModelConfig(tmp),
    (e: unknown) =>
      e instanceof FormatError &&
      e.file === path &&
      e.key === 'architectures' &&
      /not supported \(supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, GemmaForCausalLM, .*Phi3ForCausalLM.*MixtralForCausalLM, Qwen2MoeForCausalLM, Qwen3MoeForCausalLM[^)]*ChatGLMModel, ChatGLMForConditionalGeneration[^)]*GlmForCausalLM[^)]*\)/.test(
        e.message,
      ),
  );
  const { hidden_size: _, ...noHidden } = base('LlamaForCausalLM');
  write(noHidden);
  assert.throws(() => readModelConfig(tmp), /config\.json: "hidden_size": is required/);
  write(base('LlamaForCausalLM', { num_attention_heads: '4' }));
  assert.throws(() => readModelConfig(tmp), /"num_attention_heads": must be an integer, got "4"/);
  write(base('LlamaForCausalLM', { num_key_value_heads: 3 }));
  assert.throws(() => readModelConfig(tmp), /"num_key_value_heads": 3 does not divide/);
  write(base('LlamaForCausalLM', { hidden_act: 'gelu' }));
  assert.throws(() => readModelConfig(tmp), /"hidden_act": "gelu" is not supported: .*SiLU/);
  write(base('LlamaForCausalLM', { tie_word_embeddings: 'yes' }));
  assert.throws(() => readModelConfig(tmp), /"tie_word_embeddings": must be true or false/);
  write(base('LlamaForCausalLM', { eos_token_id: [2, 'x'] }));
  assert.throws(() => readModelConfig(tmp), /"eos_token_id": must be a token id or a list/);
  write({ ...base('LlamaForCausalLM'), architectures: undefined });
  assert.throws(() => readModelConfig(tmp), /"architectures": must be a non-empty list/);
  write('{ not json');
  assert.throws(() => readModelConfig(tmp), /config\.json: is not valid JSON/);
  assert.throws(() => readModelConfig(join(tmp, 'nowhere')), /cannot read the model config/);
});
