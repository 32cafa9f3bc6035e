/**
 * The architecture the model, train and generate benchmarks measure: SmolLM2-135M's config.json values (random
 * weights are made by the benchmark), with bos/eos ids for tokenizers that need them.
 */
export const SMOLLM2_135M = {
  architectures: ['LlamaForCausalLM'],
  vocab_size: 49152,
  hidden_size: 576,
  intermediate_size: 1536,
  num_hidden_layers: 30,
  num_attention_heads: 9,
  num_key_value_heads: 3,
  rms_norm_eps: 1e-5,
  rope_theta: 100000,
  max_position_embeddings: 8192,
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: 2,
};

/** Llama-3.2-1B's config.json values (the larger shape of the GGUF benchmark; the tied head as the original). */
export const LLAMA32_1B = {
  architectures: ['LlamaForCausalLM'],
  vocab_size: 128256,
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  head_dim: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  max_position_embeddings: 8192,
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: 2,
};

/** Llama-3-8B's config.json values (the memory benchmark's largest shape: its QLoRA step must fit in 8 GB). */
export const LLAMA3_8B = {
  architectures: ['LlamaForCausalLM'],
  vocab_size: 128256,
  hidden_size: 4096,
  intermediate_size: 14336,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  max_position_embeddings: 8192,
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
};

/** The shapes the benchmarks take by `--shape` name (bench memory, bench generate). */
export const BENCH_SHAPES: Record<string, { name: string; config: Record<string, unknown> }> = {
  'smollm2-135m': { name: 'SmolLM2-135M', config: SMOLLM2_135M },
  'llama-3.2-1b': { name: 'Llama-3.2-1B', config: LLAMA32_1B },
  'llama-3-8b': { name: 'Llama-3-8B', config: LLAMA3_8B },
};

/** The shape a `--shape` value names; an unknown name says which there are. */
export function benchShape(key: string): { name: string; config: Record<string, unknown> } {
  const shape = BENCH_SHAPES[key];
  if (!shape) throw new Error(`--shape ${key}: must be one of ${Object.keys(BENCH_SHAPES).join(', ')}`);
  return shape;
}
