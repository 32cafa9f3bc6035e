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
