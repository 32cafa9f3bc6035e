/**
 * The ggml type of each tensor for a `gguf_type`, as llama.cpp's llama_model_quantize chooses it (llama-quant.cpp,
 * llama_tensor_get_type, no importance matrix, dense non-Falcon models): 1-D tensors stay F32; the output head (or a
 * tied token_embd, which llama.cpp reads for the output) takes Q6_K in every 4–6-bit type; Q4_K_M and Q5_K_M give
 * attn_v and ffn_down Q6_K in the layers `useMoreBits` picks (the first and last eighth and every third between);
 * a 70B-type model (80 layers with grouped KV heads) lifts Q4_K attn_v to Q5_K. A row length that is no whole number
 * of super-blocks falls back as llama.cpp does (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, then F16); for Q4_0 and
 * Q8_0, which llama.cpp refuses there, lmforge writes F16.
 */
import { GGML_BLOCK_TYPES } from '../../engine/quant/ggml-blocks.js';
import type { GgmlType } from './gguf-format.js';

export const GGUF_TYPES = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_k_m', 'q5_k_m', 'q6_k'] as const;
export type GgufType = (typeof GGUF_TYPES)[number];

/** llama_ftype of a whole file (general.file_type). */
export const FILE_TYPE: Record<GgufType, number> = {
  f32: 0,
  f16: 1,
  q4_0: 2,
  q8_0: 7,
  q4_k_m: 15,
  q5_k_m: 17,
  q6_k: 18,
  bf16: 32,
};

/** The type most matrices take. */
const DEFAULT_TYPE: Record<GgufType, GgmlType> = {
  f32: 'F32',
  f16: 'F16',
  bf16: 'BF16',
  q8_0: 'Q8_0',
  q4_0: 'Q4_0',
  q4_k_m: 'Q4_K',
  q5_k_m: 'Q5_K',
  q6_k: 'Q6_K',
};

const FALLBACK: Partial<Record<GgmlType, GgmlType>> = { Q4_K: 'Q5_0', Q5_K: 'Q5_1', Q6_K: 'Q8_0' };

/** llama.cpp's use_more_bits: the first and last eighth of the layers, and every third layer between. */
export function useMoreBits(layer: number, layers: number): boolean {
  const eighth = Math.trunc(layers / 8);
  return layer < eighth || layer >= Math.trunc((7 * layers) / 8) || (layer - eighth) % 3 === 2;
}

export interface MixtureContext {
  layers: number;
  /** The file has its own output.weight (an untied head). */
  hasOutput: boolean;
  /** llama.cpp's LLM_TYPE_70B: 80 layers with fewer KV heads than query heads. */
  is70b: boolean;
}

function blockElements(t: GgmlType): number {
  return t in GGML_BLOCK_TYPES ? GGML_BLOCK_TYPES[t as keyof typeof GGML_BLOCK_TYPES].elements : 1;
}

/** The ggml type of the tensor `name` (llama.cpp's name) of PyTorch shape `shape`. */
export function ggmlTypeFor(name: string, shape: readonly number[], type: GgufType, ctx: MixtureContext): GgmlType {
  if (shape.length < 2 || name.endsWith('_norm.weight') || !name.endsWith('.weight')) return 'F32';
  const cols = shape.at(-1) as number;
  let t = DEFAULT_TYPE[type];
  if (t === 'F32' || t === 'F16' || t === 'BF16') return t;
  const layer = Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? -1);
  if (name === 'output.weight' || (!ctx.hasOutput && name === 'token_embd.weight')) {
    if (cols % blockElements(t) !== 0) t = 'Q8_0';
    else if (t !== 'Q8_0') t = 'Q6_K';
  } else if (name.endsWith('attn_v.weight')) {
    if ((type === 'q4_k_m' || type === 'q5_k_m') && useMoreBits(layer, ctx.layers)) t = 'Q6_K';
    if (ctx.is70b && t === 'Q4_K') t = 'Q5_K';
  } else if (name.endsWith('ffn_down.weight')) {
    if ((type === 'q4_k_m' || type === 'q5_k_m') && useMoreBits(layer, ctx.layers)) t = 'Q6_K';
  }
  if (cols % blockElements(t) !== 0) t = FALLBACK[t] ?? 'F16';
  if (cols % blockElements(t) !== 0) t = 'F16';
  return t;
}
