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
