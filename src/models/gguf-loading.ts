/**
 * A CausalLM from a GGUF file (llama.cpp's, Ollama's or lmforge's own): the config its metadata implies, q/k rows back
 * in HF order. Decoder projections, the token embedding and the LM head stored as Q8_0 / Q4_0 / Q5_0 / Q5_1 / Q4_K /
 * Q5_K / Q6_K stay in their blocks (a frozen quantized base: it decodes with integer dots and trains through LoRA;
 * embedding lookups dequantize the rows they read); matrices stored F16 / BF16 stay 16-bit (decoding streams half the
 * bytes of f32, kernels/gemv16.h; prompts and LoRA training widen them inside the GEMM, exactly); every other tensor
 * is decoded to float32. `dtype` stores every matrix in that dtype instead; `dequantizeBase` decodes all to float32.
 * With `resizeVocabTo` the embedding and an untied head are decoded to float32 (grown to that many rows as
 * models/resize-vocab.ts does): resize_vocab trains them in full, which needs float masters. So are the modules named
 * by `fullPrecisionModules` (LoRA's additional_target) and by the adapters' modules_to_save. The tokenizer comes from
 * the same file's metadata (tokenizer/gguf-tokenizer.ts).
 */
import { Generator, keep, QuantizedMatrix, setThreads, Tensor } from '../engine/index.js';
import { GgufFile } from '../io/gguf-file.js';
import { ggufHalfType, ggufModelConfig, ggufParameter, ggufQuantizedWeight } from '../io/gguf-model.js';
import type { ModelConfig } from '../io/model-config.js';
import { isModuleToSave, readLoraConfig } from '../io/peft.js';
import type { WeightSource } from './family.js';
import { CausalLM } from './model.js';
import { buildModule } from './registry.js';
import { EMBEDDING_NAME, LM_HEAD_NAME, noisyMeanResize } from './resize-vocab.js';

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
  resizeVocabTo?: number;
  fullPrecisionModules?: readonly string[];
  f32Parameters?: (name: string) => boolean;
}

export function loadGgufModel(path: string, options: GgufLoadOptions = {}): CausalLM {
  if (options.threads !== undefined) setThreads(options.threads);
  if (options.quantization)
    throw Object.assign(
      new Error(`${path}: quantization_bit applies to Hugging Face checkpoints; a GGUF file is loaded as it is stored`),
      { userFacing: true },
    );
  const file = GgufFile.open(path);
  const stored = ggufModelConfig(file);
  const rows = options.resizeVocabTo;
  const grow = rows !== undefined && rows > stored.vocabSize;
  const config = grow ? { ...stored, vocabSize: rows } : stored;
  // resize_vocab trains the embedding and head in full even when no row is added, so they are decoded either way.
  const resized = (name: string) => rows !== undefined && (name === EMBEDDING_NAME || name === LM_HEAD_NAME);
  // Modules that train (or were trained) in full: LoRA's additional_target, and the adapters' saved modules_to_save.
  const fullPrecision = [...(options.fullPrecisionModules ?? []), ...adapterModulesToSave(options.adapter)];
  const decoded = (name: string) => resized(name) || isModuleToSave(fullPrecision, name);
  // The same stream, in the same order (embedding, then head), as a checkpoint folder's resize (models/loading.ts).
  const resizeGen = new Generator(42);
  const weights: WeightSource = (name, shape) => {
    const t =
      grow && resized(name)
        ? grownRows(file, stored, name, shape, rows, resizeGen)
        : Tensor.from(ggufParameter(file, config, name, shape), shape);
    // A 16-bit matrix decoded to f32 goes back to its own dtype exactly (every f16/bf16 value is an f32 value); one
    // that trains in full stays f32.
    const half = decoded(name) || options.dequantizeBase ? null : ggufHalfType(file, config, name);
    const storage = options.dtype ?? half ?? 'f32';
    const kept = shape.length === 2 && storage !== 'f32' && !options.f32Parameters?.(name) ? t.to(storage) : t;
    if (kept !== t) t.dispose();
    kept.name = name;
    return keep(kept);
  };
  if (!options.dequantizeBase) {
    const inBlocks: NonNullable<WeightSource['projection']> = (name, shape) => {
      const blocks = isModuleToSave(fullPrecision, name) ? null : ggufQuantizedWeight(file, config, name, shape);
      return blocks ? QuantizedMatrix.fromGgml(blocks.type, shape[0], shape[1], blocks.blocks) : weights(name, shape);
    };
    weights.projection = inBlocks;
    weights.storedBlocks = (name, shape) => (decoded(name) ? weights(name, shape) : inBlocks(name, shape));
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

function adapterModulesToSave(adapter: GgufLoadOptions['adapter']): string[] {
  const dirs = adapter === undefined ? [] : typeof adapter === 'string' ? [adapter] : adapter;
  return dirs.flatMap((dir) => readLoraConfig(dir).modulesToSave ?? []);
}

/** The file's [V, H] embedding or head decoded to f32 and grown to [rows, H] (noisy-mean rows). */
function grownRows(
  file: GgufFile,
  stored: ModelConfig,
  name: string,
  shape: readonly number[],
  rows: number,
  gen: Generator,
): Tensor {
  const old = Tensor.from(ggufParameter(file, stored, name, [stored.vocabSize, ...shape.slice(1)]), [
    stored.vocabSize,
    ...shape.slice(1),
  ]);
  const grown = noisyMeanResize(old, rows, gen);
  old.dispose();
  return grown;
}
