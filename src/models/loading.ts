/** Building a CausalLM: from an HF checkpoint folder (with PEFT adapters), or with random weights. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fill_, Generator, keep, normal_, QuantizedMatrix, setThreads, Tensor } from '../engine/index.js';
import { bnbParameterShapes, bnbQuantizationOf, readBnbWeight } from '../io/bnb-checkpoint.js';
import { CheckpointReader } from '../io/checkpoint.js';
import { isIgnorableCheckpointTensor, type ModelConfig, readModelConfig } from '../io/model-config.js';
import { checkParameters, formatParameterReport } from '../io/param-check.js';
import type { WeightSource } from './family.js';
import { isGgufPath, loadGgufModel } from './gguf-loading.js';
import { CausalLM } from './model.js';
import { type QuantizationOptions, quantizeProjections } from './quantization.js';
import { buildModule, expectedParametersOf } from './registry.js';
import { EMBEDDING_NAME, LM_HEAD_NAME, noisyMeanResize } from './resize-vocab.js';

export interface LoadModelOptions {
  /** Storage dtype of the (frozen) weight matrices: f32 (default), bf16 or f16. Norms stay f32. */
  dtype?: 'f32' | 'bf16' | 'f16';
  /**
   * PEFT adapter folder(s): all but the last are merged into the weights, the last stays a live adapter, frozen for
   * inference (PEFT's from_pretrained) unless `trainable`.
   */
  adapter?: string | readonly string[];
  /** Keep training the last adapter (PEFT's is_trainable=True); without it every weight is frozen. */
  trainable?: boolean;
  /** Native thread-pool size (default: physical cores). */
  threads?: number;
  /**
   * Quantize the decoder layers' projections while loading, as bitsandbytes does with LLaMA-Factory's
   * quantization_bit: 4 (NF4/FP4, 64-value blocks, double quantization by default) or 8 (LLM.int8() rows). Norms,
   * embeddings and the LM head keep their dtype. A quantized base trains only through LoRA.
   */
  quantization?: QuantizationOptions;
  /**
   * Grow the embedding (and an untied LM head) to this many rows while loading, as LLaMA-Factory's resize_vocab:
   * new rows are the old rows' mean plus noise (models/resize-vocab.ts). Ignored when the model already has as many.
   */
  resizeVocabTo?: number;
  /**
   * A GGUF file's Q8_0/Q4_0/Q5_0/Q5_1/Q4_K/Q5_K/Q6_K projections decoded to float weights instead of kept in their blocks
   * (export merges adapters into them), and its F16/BF16 matrices to f32. Without it they stay quantized / 16-bit: a
   * frozen base that trains only through LoRA.
   */
  dequantizeBase?: boolean;
  /**
   * Modules that train in full (LoRA's additional_target, PEFT's modules_to_save names): a GGUF file's quantized
   * blocks for them are decoded to float weights, as are those named by the adapters' modules_to_save.
   */
  fullPrecisionModules?: readonly string[];
  /** Parameters loaded as f32 whatever `dtype` says: the ones that will train (freeze tuning's f32 masters). */
  f32Parameters?: (name: string) => boolean;
}

/** Loads a HF checkpoint folder (config.json + safetensors) or a GGUF file, optionally with PEFT adapters. */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<CausalLM> {
  if (isGgufPath(dir)) return loadGgufModel(dir, options);
  if (options.threads !== undefined) setThreads(options.threads);
  const stored = readModelConfig(dir);
  const rows = options.resizeVocabTo ?? 0;
  const resize = rows > stored.vocabSize;
  const config = resize ? { ...stored, vocabSize: rows } : stored;
  const reader = CheckpointReader.open(dir);
  const resizeGen = new Generator(42);
  try {
    const expected = expectedParametersOf(config);
    // A bitsandbytes checkpoint keeps its projections quantized; quantization_bit does not apply to it (as in
    // LLaMA-Factory, which ignores it for pre-quantized models).
    const prequantized = bnbQuantizationOf(config, dir);
    const shapes = new Map(prequantized ? bnbParameterShapes(reader) : reader.shapes());
    if (resize)
      for (const name of [EMBEDDING_NAME, LM_HEAD_NAME]) {
        const shape = shapes.get(name);
        if (shape?.[0] === stored.vocabSize) shapes.set(name, [rows, ...shape.slice(1)]);
      }
    const report = checkParameters(expected, shapes, (n) => isIgnorableCheckpointTensor(n, config));
    if (!report.ok) throw new Error(formatParameterReport(report, dir));
    const storage = options.dtype ?? 'f32';
    const weights: WeightSource = (name, shape) => {
      const dtype = shape.length === 2 && !options.f32Parameters?.(name) ? storage : 'f32';
      const t = keep(
        resize && (name === EMBEDDING_NAME || name === LM_HEAD_NAME)
          ? resizedRows(reader.load(name, { dtype: 'f32' }), rows, resizeGen, dtype)
          : reader.load(name, { dtype }),
      );
      t.name = name;
      if (t.shape.some((d, i) => d !== shape[i]))
        throw new Error(`${dir}: ${name} is [${t.shape}], expected [${shape}]`);
      return t;
    };
    if (prequantized)
      weights.projection = (name, shape) => {
        const parts = readBnbWeight(reader, name, shape);
        return parts ? QuantizedMatrix.fromParts(parts) : weights(name, shape);
      };
    else if (options.quantization) quantizeProjections(weights, (name) => reader.load(name), options.quantization, dir);
    const module = buildModule(config, weights);
    const genPath = join(dir, 'generation_config.json');
    const generationConfig = existsSync(genPath)
      ? (JSON.parse(readFileSync(genPath, 'utf8')) as Record<string, unknown>)
      : {};
    // PEFT's base_model_name_or_path is the name the base was loaded by (transformers' name_or_path).
    const model = new CausalLM(config, module, generationConfig, { dir, nameOrPath: dir });
    const adapters =
      options.adapter === undefined ? [] : typeof options.adapter === 'string' ? [options.adapter] : options.adapter;
    for (const [i, a] of adapters.entries())
      model.loadAdapter(a, { trainable: options.trainable === true && i === adapters.length - 1 });
    return model;
  } finally {
    reader.close();
  }
}

/** weight [V, H] grown to [rows, H] (noisy-mean rows), stored as `dtype`; the input is disposed. */
function resizedRows(weight: Tensor, rows: number, gen: Generator, dtype: 'f32' | 'bf16' | 'f16'): Tensor {
  const grown = noisyMeanResize(weight, rows, gen);
  weight.dispose();
  if (dtype === 'f32') return grown;
  const converted = grown.to(dtype);
  grown.dispose();
  return converted;
}

/** A model with random weights (HF's init: matrices ~ N(0, initializer_range), norms 1), for tests and benchmarks. */
export function createModel(
  config: ModelConfig,
  { seed = 0, std, dtype = 'f32' }: { seed?: number; std?: number; dtype?: 'f32' | 'bf16' | 'f16' } = {},
): CausalLM {
  const gen = new Generator(seed);
  const sigma = std ?? (config.raw.initializer_range as number | undefined) ?? 0.02;
  const weights: WeightSource = (name, shape) => {
    const t = Tensor.empty(shape);
    if (shape.length === 1) fill_(t, name.endsWith('.bias') ? 0 : 1);
    else normal_(t, gen, 0, sigma);
    const stored = dtype !== 'f32' && shape.length === 2 ? t.to(dtype) : t;
    if (stored !== t) t.dispose();
    stored.name = name;
    return keep(stored);
  };
  return new CausalLM(config, buildModule(config, weights));
}
