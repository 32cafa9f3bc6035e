/** A tiny random Llama config (no files): what the tuning-method tests build models from. */

import type { ModelConfig } from '../../src/io/model-config.js';
import { parseModelConfig } from '../../src/io/model-config.js';

export function tinyLlamaConfig(overrides: Record<string, unknown> = {}): ModelConfig {
  return parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 64,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 64,
    ...overrides,
  });
}

/** Sizes (no architecture) that the family tests merge each architecture's keys into: odd vocabulary, GQA. */
export const TINY_FAMILY_SIZES = {
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

/**
 * Gemma 2's keys over tinyMistralDir's Llama config: soft-capped scores and final logits, local layers with a
 * 4-token window (even layers; odd ones global), so serving and predicting paths see both.
 */
export const TINY_GEMMA2_KEYS = {
  architectures: ['Gemma2ForCausalLM'],
  head_dim: 8,
  query_pre_attn_scalar: 8,
  attn_logit_softcapping: 50,
  final_logit_softcapping: 30,
  sliding_window: 4,
};
