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

/** The sparse MoE families' keys over the tiny sizes: what each family's router and experts add. */
export const TINY_MOE_KEYS = {
  /** Renormalised top-2 of 4 experts. */
  mixtral: { architectures: ['MixtralForCausalLM'], num_local_experts: 4 },
  /** A shared expert, top-3 of 5 unnormalised, layer 0 dense by mlp_only_layers. */
  qwen2Moe: {
    architectures: ['Qwen2MoeForCausalLM'],
    num_experts: 5,
    num_experts_per_tok: 3,
    moe_intermediate_size: 12,
    shared_expert_intermediate_size: 20,
    mlp_only_layers: [0],
  },
  /** q/k norms, norm_topk_prob, head_dim 8. */
  qwen3Moe: {
    architectures: ['Qwen3MoeForCausalLM'],
    num_experts: 6,
    num_experts_per_tok: 2,
    moe_intermediate_size: 10,
    norm_topk_prob: true,
    head_dim: 8,
  },
};
