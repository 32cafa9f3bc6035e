/**
 * A GGUF file as a Hugging Face model: the config.json its `<arch>.*` keys imply (llama -> LlamaForCausalLM,
 * qwen2 -> Qwen2ForCausalLM; no output.weight means a tied head), and each HF parameter's float32 values from the
 * tensor llama.cpp names for it, q_proj/k_proj rows (and biases) of `llama` put back from llama.cpp's interleaved
 * RoPE order into HF's rotate-half order (the inverse of convert_hf_to_gguf's permute).
 */
import type { GgmlQuantType } from '../engine/quant/quantized-matrix.js';
import { FormatError } from './errors.js';
import { type GgufFile, type GgufMetadataValue, ggmlTypeName } from './gguf-file.js';
import { type ModelConfig, parseModelConfig } from './model-config.js';

const ARCHITECTURE: Record<string, string> = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM' };

const LAYER_NAMES: Record<string, string> = {
  input_layernorm: 'attn_norm',
  post_attention_layernorm: 'ffn_norm',
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output',
  'mlp.gate_proj': 'ffn_gate',
  'mlp.up_proj': 'ffn_up',
  'mlp.down_proj': 'ffn_down',
};

/** llama.cpp's tensor name for an HF parameter name, or null for one it has none for (the lm_head of a tied model
 * reads token_embd); export (export/gguf/gguf-arch.ts) and import share this one table. */
export function ggufNameOf(hfName: string, tied: boolean): string | null {
  if (hfName === 'model.embed_tokens.weight') return 'token_embd.weight';
  if (hfName === 'model.norm.weight') return 'output_norm.weight';
  if (hfName === 'lm_head.weight') return tied ? 'token_embd.weight' : 'output.weight';
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
  const mapped = m ? LAYER_NAMES[m[2] as string] : undefined;
  return m && mapped ? `blk.${m[1]}.${mapped}.${m[3]}` : null;
}

function num(file: GgufFile, key: string, fallback?: number): number {
  const v = file.get(key);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (fallback !== undefined) return fallback;
  throw new FormatError(file.path, key, 'is missing: the file is not a complete llama.cpp model');
}

/** The GGUF's architecture name (`general.architecture`). */
export function ggufArchitecture(file: GgufFile): string {
  const arch = file.get('general.architecture');
  if (typeof arch !== 'string' || !(arch in ARCHITECTURE))
    throw new FormatError(
      file.path,
      'general.architecture',
      `is ${String(arch)}; lmforge reads llama (Llama, Mistral) and qwen2 GGUF files so far`,
    );
  return arch;
}

/** The config.json of the model in `file`. */
export function ggufModelConfig(file: GgufFile): ModelConfig {
  const arch = ggufArchitecture(file);
  const k = (key: string) => `${arch}.${key}`;
  const embd = file.tensor('token_embd.weight');
  if (!embd) throw new FormatError(file.path, 'token_embd.weight', 'is missing: the file has no token embedding');
  const tokens = file.get('tokenizer.ggml.tokens') as GgufMetadataValue[] | undefined;
  const hidden = num(file, k('embedding_length'));
  const heads = num(file, k('attention.head_count'));
  const raw: Record<string, unknown> = {
    architectures: [ARCHITECTURE[arch]],
    vocab_size: num(file, k('vocab_size'), tokens?.length ?? embd.shape[0]),
    hidden_size: hidden,
    intermediate_size: num(file, k('feed_forward_length')),
    num_hidden_layers: num(file, k('block_count')),
    num_attention_heads: heads,
    num_key_value_heads: num(file, k('attention.head_count_kv'), heads),
    head_dim: num(file, k('attention.key_length'), hidden / heads),
    max_position_embeddings: num(file, k('context_length'), 2048),
    rms_norm_eps: num(file, k('attention.layer_norm_rms_epsilon'), 1e-6),
    rope_theta: num(file, k('rope.freq_base'), 10000),
    tie_word_embeddings: file.tensor('output.weight') === undefined,
    attention_bias: arch === 'llama' && file.tensor('blk.0.attn_q.bias') !== undefined,
    torch_dtype: 'float32',
  };
  for (const [key, name] of [
    ['bos_token_id', 'bos_token_id'],
    ['eos_token_id', 'eos_token_id'],
    ['pad_token_id', 'padding_token_id'],
  ] as const) {
    const v = file.get(`tokenizer.ggml.${name}`);
    if (typeof v === 'number') raw[key] = v;
  }
  const scaling = file.get(k('rope.scaling.type'));
  if (scaling === 'linear') raw.rope_scaling = { type: 'linear', factor: num(file, k('rope.scaling.factor')) };
  else if (scaling !== undefined && scaling !== 'none')
    throw new FormatError(file.path, k('rope.scaling.type'), `${String(scaling)} RoPE scaling is not read yet`);
  return parseModelConfig(raw, file.path);
}

/** Rows of llama.cpp's q/k order [heads * D, inner] back in HF's: old row k * D/2 + j = GGUF row 2j + k. */
export function unpermuteRows(values: Float32Array, heads: number, inner: number): Float32Array {
  const d = values.length / inner / heads;
  const out = new Float32Array(values.length);
  for (let h = 0; h < heads; h++)
    for (let j = 0; j < d / 2; j++)
      for (let k = 0; k < 2; k++) {
        const from = (h * d + 2 * j + k) * inner;
        out.set(values.subarray(from, from + inner), (h * d + k * (d / 2) + j) * inner);
      }
  return out;
}

/** unpermuteRows on stored bytes: rows of `rowBytes` bytes each (whole ggml blocks), moved as units. */
export function unpermuteRowBytes(bytes: Uint8Array, heads: number, rowBytes: number): Uint8Array {
  const d = bytes.length / rowBytes / heads;
  const out = new Uint8Array(bytes.length);
  for (let h = 0; h < heads; h++)
    for (let j = 0; j < d / 2; j++)
      for (let k = 0; k < 2; k++) {
        const from = (h * d + 2 * j + k) * rowBytes;
        out.set(bytes.subarray(from, from + rowBytes), (h * d + k * (d / 2) + j) * rowBytes);
      }
  return out;
}

/** The ggml block types a projection stays quantized in (the types the integer-dot kernels read). */
const KEPT_BLOCK_TYPES: Record<string, GgmlQuantType> = {
  Q8_0: 'q8_0',
  Q4_0: 'q4_0',
  Q5_0: 'q5_0',
  Q5_1: 'q5_1',
  Q4_K: 'q4_k',
  Q5_K: 'q5_k',
  Q6_K: 'q6_k',
};

/**
 * The stored blocks of the HF weight `hfName` [out, in] when `file` keeps it in a type the quantized kernels read
 * (q/k rows put back in HF order), else null (read it as float32 with ggufParameter).
 */
export function ggufQuantizedWeight(
  file: GgufFile,
  config: ModelConfig,
  hfName: string,
  shape: readonly [number, number],
): { type: GgmlQuantType; blocks: Uint8Array } | null {
  const name = ggufNameOf(hfName, config.tieWordEmbeddings);
  const entry = name === null ? undefined : file.tensor(name);
  const typeName = entry ? ggmlTypeName(entry.type) : null;
  const type = typeName ? KEPT_BLOCK_TYPES[typeName] : undefined;
  if (!entry || !type) return null;
  if (entry.shape.length !== 2 || entry.shape[0] !== shape[0] || entry.shape[1] !== shape[1])
    throw new FormatError(file.path, entry.name, `is [${entry.shape}], the model config implies [${shape}]`);
  const blocks = file.readBytes(entry);
  if (ggufArchitecture(file) !== 'llama') return { type, blocks };
  const rowBytes = blocks.length / shape[0];
  if (/self_attn\.q_proj\.weight$/.test(hfName))
    return { type, blocks: unpermuteRowBytes(blocks, config.numAttentionHeads, rowBytes) };
  if (/self_attn\.k_proj\.weight$/.test(hfName))
    return { type, blocks: unpermuteRowBytes(blocks, config.numKeyValueHeads, rowBytes) };
  return { type, blocks };
}

/** The float32 values of the HF parameter `hfName` (shape `shape`) stored in `file`. */
export function ggufParameter(
  file: GgufFile,
  config: ModelConfig,
  hfName: string,
  shape: readonly number[],
): Float32Array {
  const name = ggufNameOf(hfName, config.tieWordEmbeddings);
  const entry = name === null ? undefined : file.tensor(name);
  if (!entry) throw new FormatError(file.path, name ?? hfName, `is missing (lmforge needs it for ${hfName})`);
  if (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i]))
    throw new FormatError(file.path, entry.name, `is [${entry.shape}], the model config implies [${shape}]`);
  const values = file.readFloat32(entry);
  if (ggufArchitecture(file) !== 'llama') return values;
  const inner = shape.length > 1 ? (shape[1] as number) : 1;
  if (/self_attn\.q_proj\.(weight|bias)$/.test(hfName)) return unpermuteRows(values, config.numAttentionHeads, inner);
  if (/self_attn\.k_proj\.(weight|bias)$/.test(hfName)) return unpermuteRows(values, config.numKeyValueHeads, inner);
  return values;
}

/** 'f16' / 'bf16' when the file stores this parameter as F16 / BF16, else null (F32 or a block type). */
export function ggufHalfType(file: GgufFile, config: ModelConfig, hfName: string): 'f16' | 'bf16' | null {
  const name = ggufNameOf(hfName, config.tieWordEmbeddings);
  const entry = name === null ? undefined : file.tensor(name);
  const type = entry ? ggmlTypeName(entry.type) : null;
  return type === 'F16' ? 'f16' : type === 'BF16' ? 'bf16' : null;
}
