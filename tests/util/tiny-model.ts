/** A tiny random Llama saved with a real tokenizer's files: what inference tests load like a user's model folder. */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { parseModelConfig } from '../../src/io/model-config.js';
import { createModel } from '../../src/models/causal-lm.js';
import { LENML, tempDir } from './tokenizers.js';

/**
 * Mistral's 32000-id vocabulary (SentencePiece BPE with byte fallback), hidden size 32, 2 layers. `std` scales the
 * random weights (0.5 makes greedy answers vary; training tests use HF's 0.02).
 */
export function tinyMistralDir(
  seed = 5,
  {
    std = 0.5,
    maxPositionEmbeddings = 1024,
    hiddenSize = 32,
    layers = 2,
    config = {},
  }: {
    std?: number;
    maxPositionEmbeddings?: number;
    hiddenSize?: number;
    layers?: number;
    /** config.json keys over the Llama defaults (another family: architectures and its own keys). */
    config?: Record<string, unknown>;
  } = {},
): string {
  const dir = join(tempDir('tiny-model'), 'model');
  const cfg = parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 32000,
    hidden_size: hiddenSize,
    intermediate_size: 2 * hiddenSize,
    num_hidden_layers: layers,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: maxPositionEmbeddings,
    bos_token_id: 1,
    eos_token_id: 2,
    ...config,
  });
  const model = createModel(cfg, { seed, std });
  model.save(dir);
  model.dispose();
  cpSync(LENML.mistral, dir, { recursive: true });
  return dir;
}
