/**
 * One GGUF v3 file for llama.cpp, Ollama and LM Studio from a loaded (merged) model and its saved tokenizer:
 * general.* (architecture, name, file_type, quantization_version), the architecture's hyperparameters, the tokenizer
 * (gguf-tokenizer.ts), then every tensor under llama.cpp's name in model order. 1-D tensors (norms, biases) stay F32
 * as llama.cpp's converter keeps them; matrices take the type llama-quantize would give them (gguf-mixture.ts).
 * Written atomically, one tensor converted at a time.
 */
import { writeSync } from 'node:fs';
import { withAtomicFile } from '../../io/atomic.js';
import type { CausalLM } from '../../models/causal-lm.js';
import type { Tokenizer } from '../../tokenizer/tokenizer.js';
import { archMetadata, GgufExportError, ggufArch, ggufTensorName, permuteHeads, permuteRows } from './gguf-arch.js';
import { type GgufTensorInfo, type GgufValue, layoutGguf, tensorBytes } from './gguf-format.js';
import { FILE_TYPE, type GgufType, ggmlTypeFor, type MixtureContext } from './gguf-mixture.js';
import { ggmlBytes } from './gguf-quantize.js';
import { tokenizerMetadata } from './gguf-tokenizer.js';

export { GGUF_TYPES, type GgufType } from './gguf-mixture.js';

/** ggml's GGML_QNT_VERSION, which gguf-py writes into every file. */
const QUANTIZATION_VERSION = 2;

export function ggufFileName(type: GgufType): string {
  return `model-${type}.gguf`;
}

export interface WriteGgufOptions {
  /** general.name */
  name: string;
  /** Folder holding the tokenizer.json of `tokenizer` (the export's staging folder). */
  tokenizerDir: string;
  /** After each tensor: its bytes, and the data bytes of all tensors. */
  onTensor?: (name: string, bytes: number, totalBytes: number) => void;
}

export interface WrittenGguf {
  tensors: GgufTensorInfo[];
  bytes: number;
}

/** Every tensor the file holds: llama.cpp's name, the HF parameter it comes from, its shape and ggml type. */
export function ggufTensorPlan(model: CausalLM, type: GgufType): (GgufTensorInfo & { hfName: string })[] {
  const config = model.config;
  const named = model.namedParameters().flatMap(([hfName, t]) => {
    const name = ggufTensorName(hfName, config);
    return name === null ? [] : [{ name, hfName, shape: t.shape }];
  });
  const mixture: MixtureContext = {
    layers: config.numHiddenLayers,
    hasOutput: named.some((t) => t.name === 'output.weight'),
    is70b: config.numHiddenLayers === 80 && config.numKeyValueHeads < config.numAttentionHeads,
  };
  return named.map((t) => ({ ...t, type: ggmlTypeFor(t.name, t.shape, type, mixture) }));
}

export function writeGguf(
  path: string,
  model: CausalLM,
  tokenizer: Tokenizer,
  type: GgufType,
  options: WriteGgufOptions,
): WrittenGguf {
  const config = model.config;
  const arch = ggufArch(config);
  const params = model.namedParameters();
  if (params.some(([n]) => n.includes('lora_')))
    throw new GgufExportError('the model still has a live LoRA adapter: merge it before writing GGUF');
  const tensors = ggufTensorPlan(model, type);
  const metadata: [string, GgufValue][] = [
    ['general.architecture', { type: 'string', value: arch }],
    ['general.type', { type: 'string', value: 'model' }],
    ['general.name', { type: 'string', value: options.name }],
    ['general.file_type', { type: 'u32', value: FILE_TYPE[type] }],
    ['general.quantization_version', { type: 'u32', value: QUANTIZATION_VERSION }],
    ...archMetadata(arch, config),
    ...tokenizerMetadata(options.tokenizerDir, tokenizer, config.vocabSize),
  ];
  const layout = layoutGguf(metadata, tensors);
  const byName = new Map(params);
  const total = tensors.reduce((sum, t) => sum + tensorBytes(t), 0);
  withAtomicFile(path, (fd) => {
    writeAll(fd, layout.header, 0);
    tensors.forEach((info, i) => {
      const t = byName.get(info.hfName);
      if (!t) throw new Error(`missing ${info.hfName}`);
      let values = t.toFloat32Array();
      const heads = permuteHeads(info.hfName, arch, config);
      if (heads !== null) values = permuteRows(values, heads, t.shape.length > 1 ? (t.shape[1] as number) : 1);
      const bytes = ggmlBytes(values, info.shape, info.type);
      writeAll(fd, bytes, layout.header.length + (layout.offsets[i] as number));
      options.onTensor?.(info.name, bytes.length, total);
    });
  });
  return {
    tensors: tensors.map(({ name, shape, type }) => ({ name, shape, type })),
    bytes: layout.header.length + layout.dataBytes,
  };
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}
