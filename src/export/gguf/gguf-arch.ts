/**
 * llama.cpp's view of a model: the architecture keys, the tensor names and the row order it expects, as its
 * convert_hf_to_gguf.py writes them. Llama and Mistral are `llama`; Qwen2 is `qwen2`. For `llama` the q_proj/k_proj
 * rows are permuted from HF's rotate-half RoPE layout back to the interleaved pairs llama.cpp's kernel rotates
 * (per head: rows [0..D/2) and [D/2..D) interleave); Qwen2 keeps HF's order (llama.cpp applies NEOX RoPE to it).
 * A tied head is not written: llama.cpp reads token_embd for the output when output.weight is absent.
 */
import { ggufNameOf } from '../../io/gguf-model.js';
import type { ModelConfig } from '../../io/model-config.js';
import type { GgufValue } from './gguf-format.js';

export type GgufArch = 'llama' | 'qwen2';

export class GgufExportError extends Error {
  readonly userFacing = true;
  override name = 'GgufExportError';
}

export function ggufArch(config: ModelConfig): GgufArch {
  if (config.architecture === 'LlamaForCausalLM' || config.architecture === 'MistralForCausalLM') return 'llama';
  if (config.architecture === 'Qwen2ForCausalLM') return 'qwen2';
  throw new GgufExportError(
    `GGUF export supports Llama, Mistral and Qwen2 models so far, not ${config.architecture}: export it as ` +
      'safetensors (export_format: hf) and convert it with llama.cpp convert_hf_to_gguf.py',
  );
}

/** llama.cpp's name for an HF parameter, or null for one GGUF does not store (a tied lm_head). */
export function ggufTensorName(hfName: string, config: ModelConfig): string | null {
  if (hfName === 'lm_head.weight' && config.tieWordEmbeddings) return null;
  const name = ggufNameOf(hfName, false);
  if (name === null) throw new GgufExportError(`no GGUF name for the parameter ${hfName}`);
  return name;
}

/**
 * Rows of a q_proj/k_proj weight [heads * D, in] (or its bias, in = 1) reordered for llama.cpp: within each head,
 * new row 2j + k holds old row k * D/2 + j (convert_hf_to_gguf's permute: reshape(heads, 2, D/2, in), swap 1 and 2).
 */
export function permuteRows(values: Float32Array, heads: number, inner: number): Float32Array {
  const rows = values.length / inner;
  const d = rows / heads;
  const out = new Float32Array(values.length);
  for (let h = 0; h < heads; h++)
    for (let j = 0; j < d / 2; j++)
      for (let k = 0; k < 2; k++) {
        const from = (h * d + k * (d / 2) + j) * inner;
        out.set(values.subarray(from, from + inner), (h * d + 2 * j + k) * inner);
      }
  return out;
}

/** Heads to permute `hfName` by, when llama.cpp wants its rows reordered. */
export function permuteHeads(hfName: string, arch: GgufArch, config: ModelConfig): number | null {
  if (arch !== 'llama') return null;
  if (/self_attn\.q_proj\.(weight|bias)$/.test(hfName)) return config.numAttentionHeads;
  if (/self_attn\.k_proj\.(weight|bias)$/.test(hfName)) return config.numKeyValueHeads;
  return null;
}

/** `<arch>.*` hyperparameters as convert_hf_to_gguf.py writes them. */
export function archMetadata(arch: GgufArch, config: ModelConfig): [string, GgufValue][] {
  const k = (key: string) => `${arch}.${key}`;
  const out: [string, GgufValue][] = [
    [k('vocab_size'), { type: 'u32', value: config.vocabSize }],
    [k('context_length'), { type: 'u32', value: config.maxPositionEmbeddings }],
    [k('embedding_length'), { type: 'u32', value: config.hiddenSize }],
    [k('block_count'), { type: 'u32', value: config.numHiddenLayers }],
    [k('feed_forward_length'), { type: 'u32', value: config.intermediateSize }],
    [k('rope.dimension_count'), { type: 'u32', value: config.headDim }],
    [k('attention.head_count'), { type: 'u32', value: config.numAttentionHeads }],
    [k('attention.head_count_kv'), { type: 'u32', value: config.numKeyValueHeads }],
    [k('attention.layer_norm_rms_epsilon'), { type: 'f32', value: config.rmsNormEps }],
    [k('rope.freq_base'), { type: 'f32', value: config.ropeTheta }],
  ];
  if (config.headDim * config.numAttentionHeads !== config.hiddenSize) {
    out.push([k('attention.key_length'), { type: 'u32', value: config.headDim }]);
    out.push([k('attention.value_length'), { type: 'u32', value: config.headDim }]);
  }
  const rs = config.ropeScaling;
  if (rs !== null && rs.type === 'linear') {
    out.push([k('rope.scaling.type'), { type: 'string', value: 'linear' }]);
    out.push([k('rope.scaling.factor'), { type: 'f32', value: rs.factor }]);
  } else if (rs !== null)
    throw new GgufExportError(
      `rope_scaling ${rs.type} is not written to GGUF yet: export as safetensors and convert with llama.cpp`,
    );
  if (config.slidingWindow !== null)
    throw new GgufExportError('sliding-window attention is not written to GGUF yet: export as safetensors');
  return out;
}
