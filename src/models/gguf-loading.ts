/**
 * A CausalLM from a GGUF file (llama.cpp's, Ollama's or lmforge's own): the config its metadata implies, q/k rows back
 * in HF order. Decoder projections, the token embedding and the LM head stored as Q8_0 / Q4_0 / Q5_0 / Q5_1 / Q4_K /
 * Q5_K / Q6_K stay in their blocks (a frozen quantized base: it decodes with integer dots and trains through LoRA;
 * embedding lookups dequantize the rows they read); every other tensor is decoded to float32
 * (or stored as `dtype`). The tokenizer comes
 * from the same file's metadata (tokenizer/gguf-tokenizer.ts).
 */
import { keep, QuantizedMatrix, setThreads, Tensor } from '../engine/index.js';
import { GgufFile } from '../io/gguf-file.js';
import { ggufModelConfig, ggufParameter, ggufQuantizedWeight } from '../io/gguf-model.js';
import type { WeightSource } from './family.js';
import { CausalLM } from './model.js';
import { buildModule } from './registry.js';

export function isGgufPath(path: string): boolean {
  return path.toLowerCase().endsWith('.gguf');
}

/** loadModel's options (models/loading.ts) as far as a GGUF file takes them. */
export interface GgufLoadOptions {
  dtype?: 'f32' | 'bf16' | 'f16';
  adapter?: string | readonly string[];
  trainable?: boolean;
  threads?: number;
  quantization?: unknown;
  dequantizeBase?: boolean;
}

export function loadGgufModel(path: string, options: GgufLoadOptions = {}): CausalLM {
  if (options.threads !== undefined) setThreads(options.threads);
  if (options.quantization)
    throw Object.assign(
      new Error(`${path}: quantization_bit applies to Hugging Face checkpoints; a GGUF file is loaded as it is stored`),
      { userFacing: true },
    );
  const file = GgufFile.open(path);
  const config = ggufModelConfig(file);
  const storage = options.dtype ?? 'f32';
  const weights: WeightSource = (name, shape) => {
    const values = ggufParameter(file, config, name, shape);
    const t = Tensor.from(values, shape);
    const stored = shape.length === 2 && storage !== 'f32' ? t.to(storage) : t;
    if (stored !== t) t.dispose();
    stored.name = name;
    return keep(stored);
  };
  if (!options.dequantizeBase) {
    weights.projection = (name, shape) => {
      const stored = ggufQuantizedWeight(file, config, name, shape);
      return stored ? QuantizedMatrix.fromGgml(stored.type, shape[0], shape[1], stored.blocks) : weights(name, shape);
    };
    weights.storedBlocks = weights.projection;
  }
  const module = buildModule(config, weights);
  const generationConfig: Record<string, unknown> = {};
  if (config.raw.bos_token_id !== undefined) generationConfig.bos_token_id = config.raw.bos_token_id;
  if (config.raw.eos_token_id !== undefined) generationConfig.eos_token_id = config.raw.eos_token_id;
  const model = new CausalLM(config, module, generationConfig, { dir: null, nameOrPath: path });
  const adapters =
    options.adapter === undefined ? [] : typeof options.adapter === 'string' ? [options.adapter] : options.adapter;
  for (const [i, a] of adapters.entries())
    model.loadAdapter(a, { trainable: options.trainable === true && i === adapters.length - 1 });
  return model;
}
