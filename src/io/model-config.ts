/**
 * `config.json` of the Llama family (Llama, Mistral, Qwen2, Qwen3) as a typed ModelConfig, the HF parameter names
 * and shapes it implies, and the way back to config.json.
 *
 * Defaults are those of each transformers config class; the five size keys (vocab_size, hidden_size,
 * intermediate_size, num_hidden_layers, num_attention_heads) are required, because a checkpoint whose config lacks
 * them is broken and the class defaults (a 7B shape) would only fail later with a confusing shape mismatch.
 *
 * Per-architecture differences (from transformers' modeling files):
 * - Llama: `attention_bias` adds biases to q/k/v/o; `mlp_bias` to gate/up/down.
 * - Mistral: no biases at all; `sliding_window` (default 4096) applies to every layer.
 * - Qwen2: q/k/v always have a bias and o_proj never does (hard-coded, not a config key); sliding window only when
 *   `use_sliding_window`, and then only for layers >= `max_window_layers`.
 * - Qwen3: `attention_bias` (default false) on q/k/v/o; RMSNorm over head_dim on q and k per head (q_norm, k_norm);
 *   head_dim defaults to 128, not hidden/heads; sliding window as Qwen2.
 * - Gemma: GeGLU MLP (tanh-approximated GELU: `hidden_activation`, else `hidden_act`), (1 + w) RMSNorm, embeddings
 *   scaled by sqrt(hidden_size), tied embeddings by default, head_dim default 256 (src/models/gemma.ts).
 * - Gemma 2 / Gemma 3 (text): Gemma's defaults; their own keys (soft-capping, query_pre_attn_scalar, the layer
 *   pattern of sliding windows, Gemma 3's local RoPE base) are read by src/models/gemma2-settings.ts.
 * - Phi-3 / Phi-4: fused qkv_proj and gate_up_proj (src/models/phi3.ts), no biases, rms_norm_eps 1e-5, LongRoPE
 *   (`rope_scaling.type` "longrope" or its old name "su"), `partial_rotary_factor`, `sliding_window` on every layer.
 * - InternLM2 (remote code InternLM2Config): `bias` (default true) on wqkv and wo, max_position_embeddings 2048, pad 0.
 * - Baichuan 2 (remote code BaichuanConfig): no biases, MHA, `model_max_length` for the length (src/models/baichuan.ts
 *   decides RoPE or ALiBi).
 */

import { readFileSync } from 'node:fs';
import type { DType } from '../engine/dtype.js';
import type { RopeConfig, RopeScaling } from '../engine/ops/rope-config.js';
import { type PyJson, pyFloat, pythonJsonDumps } from '../util/python-json.js';
import { FormatError } from './errors.js';
import { isMoeArchitecture, type MoeConfig, moeBlockParameters, parseMoeConfig } from './moe-config.js';

export const SUPPORTED_ARCHITECTURES = [
  'LlamaForCausalLM',
  'MistralForCausalLM',
  'Qwen2ForCausalLM',
  'Qwen3ForCausalLM',
  'GemmaForCausalLM',
  'Gemma2ForCausalLM',
  'Gemma3ForCausalLM',
  'Phi3ForCausalLM',
  'InternLM2ForCausalLM',
  'BaichuanForCausalLM',
  'MixtralForCausalLM',
  'Qwen2MoeForCausalLM',
  'Qwen3MoeForCausalLM',
  'ChatGLMModel',
  'ChatGLMForConditionalGeneration',
  'GlmForCausalLM',
] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

const MODEL_TYPE: Record<Architecture, string> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  GemmaForCausalLM: 'gemma',
  Gemma2ForCausalLM: 'gemma2',
  Gemma3ForCausalLM: 'gemma3_text',
  Phi3ForCausalLM: 'phi3',
  InternLM2ForCausalLM: 'internlm2',
  BaichuanForCausalLM: 'baichuan',
  MixtralForCausalLM: 'mixtral',
  Qwen2MoeForCausalLM: 'qwen2_moe',
  Qwen3MoeForCausalLM: 'qwen3_moe',
  ChatGLMModel: 'chatglm',
  ChatGLMForConditionalGeneration: 'chatglm',
  GlmForCausalLM: 'glm',
};

/** Gemma's family (1, 2 and 3): head_dim 256, GeGLU, (1 + w) norms, scaled embeddings, tied, bos 2 / eos 1 / pad 0. */
const GEMMA_ARCHITECTURES: readonly Architecture[] = ['GemmaForCausalLM', 'Gemma2ForCausalLM', 'Gemma3ForCausalLM'];

/** `rope_scaling` in the engine's terms (src/engine/ops/rope-config.ts): the kernel's single source of truth. */
export type { RopeScaling };

/**
 * Sliding-window attention as the config asks for it: each query sees at most `size` keys (itself included) in the
 * layers from `fromLayer` on. This layer only records it; src/models/llama.ts applies it (shorter sequences are
 * unaffected either way).
 */
export interface SlidingWindow {
  readonly size: number;
  readonly fromLayer: number;
}

export interface ModelConfig {
  readonly architecture: Architecture;
  readonly modelType: string;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling | null;
  readonly rmsNormEps: number;
  /** Bias on q_proj, k_proj, v_proj. */
  readonly qkvBias: boolean;
  /** Bias on o_proj. */
  readonly oBias: boolean;
  /** Bias on gate_proj, up_proj, down_proj. */
  readonly mlpBias: boolean;
  /** Per-head RMSNorm over head_dim on queries and keys before RoPE (Qwen3). */
  readonly qkNorm: boolean;
  readonly tieWordEmbeddings: boolean;
  readonly maxPositionEmbeddings: number;
  readonly bosTokenId: number | null;
  /** Every id that ends generation (config.json may give one id or a list). */
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | null;
  /** The dtype the weights were saved in (`torch_dtype`, or `dtype` in newer transformers), when lmforge has it. */
  readonly torchDtype: DType | null;
  readonly slidingWindow: SlidingWindow | null;
  /** The MLP's activation: SiLU (SwiGLU), or Gemma's tanh-approximated GELU (GeGLU). */
  readonly hiddenAct: 'silu' | 'gelu_pytorch_tanh';
  /** The sparse mixture-of-experts blocks (Mixtral, Qwen2-MoE, Qwen3-MoE; src/io/moe-config.ts); absent for dense. */
  readonly moe?: MoeConfig;
  /** Dims of each head that rotate, in GLM's interleaved pairs (src/models/glm-rotary.ts); absent: all, Llama's
   * rotate-half layout. */
  readonly rotaryDim?: number;
  /** ChatGLM without multi_query_attention: query_key_value's rows are [q_h | k_h | v_h] per head, not
   * [q | k | v]. */
  readonly qkvPerHead?: boolean;
  /** ChatGLM's apply_residual_connection_post_layernorm: the residual is the normed input, not the input. */
  readonly residualPostLayernorm?: boolean;
  /** The parsed file, so saving keeps keys lmforge does not interpret. */
  readonly raw: Readonly<Record<string, unknown>>;
}

const TORCH_DTYPES: Record<string, DType> = { float32: 'f32', bfloat16: 'bf16', float16: 'f16' };
const TORCH_DTYPE_NAME: Record<DType, string> = { f32: 'float32', bf16: 'bfloat16', f16: 'float16', i32: 'int32' };

export class ConfigReader {
  constructor(
    readonly file: string,
    readonly raw: Record<string, unknown>,
  ) {}

  fail(key: string, problem: string): never {
    throw new FormatError(this.file, key, problem);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  int(key: string, fallback?: number, min = 0): number {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) this.fail(key, 'is required (an integer) but missing');
      return fallback;
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v))
      this.fail(key, `must be an integer, got ${JSON.stringify(v)}`);
    if (v < min) this.fail(key, `must be >= ${min}, got ${v}`);
    return v;
  }

  positive(key: string, fallback?: number): number {
    return this.int(key, fallback, 1);
  }

  num(key: string, fallback: number): number {
    const v = this.raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, `must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  tokenId(key: string, fallback: number | null): number | null {
    const v = this.raw[key];
    if (v === undefined) return fallback;
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      this.fail(key, `must be a token id (integer >= 0) or null, got ${JSON.stringify(v)}`);
    return v;
  }
}

/** Reads and parses `<dir>/config.json` (or a path to the file itself). */
export function readModelConfig(path: string): ModelConfig {
  const file = path.endsWith('.json') ? path : `${path}/config.json`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FormatError(file, null, `cannot read the model config (${(e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new FormatError(file, null, `is not valid JSON (${(e as Error).message})`);
  }
  return parseModelConfig(raw, file);
}

/** Parses a config.json object; `file` names the source in error messages. */
export function parseModelConfig(raw: unknown, file = 'config.json'): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new FormatError(file, null, 'must be a JSON object');
  const r = new ConfigReader(file, raw as Record<string, unknown>);
  const architecture = parseArchitecture(r);
  if (architecture === 'ChatGLMModel' || architecture === 'ChatGLMForConditionalGeneration')
    return parseChatGLMConfig(r, architecture);
  const isGlm = architecture === 'GlmForCausalLM';
  const isQwen3 = architecture === 'Qwen3ForCausalLM';
  const isQwen = isQwen3 || architecture === 'Qwen2ForCausalLM';
  const isLlama = architecture === 'LlamaForCausalLM';
  const isMistral = architecture === 'MistralForCausalLM';
  const isGemma = GEMMA_ARCHITECTURES.includes(architecture);
  const isGemma3 = architecture === 'Gemma3ForCausalLM';
  const isPhi3 = architecture === 'Phi3ForCausalLM';
  const isInternLM2 = architecture === 'InternLM2ForCausalLM';
  const isBaichuan = architecture === 'BaichuanForCausalLM';
  // The MoE families' attention is their dense sibling's: Mixtral = Mistral, Qwen2-MoE = Qwen2 (q/k/v biases unless
  // qkv_bias is false), Qwen3-MoE = Qwen3 (q/k norms), with head_dim hidden/heads unless given.
  const isMixtral = architecture === 'MixtralForCausalLM';
  const isQwen2Moe = architecture === 'Qwen2MoeForCausalLM';
  const isQwen3Moe = architecture === 'Qwen3MoeForCausalLM';

  const hiddenSize = r.positive('hidden_size');
  const numAttentionHeads = r.positive('num_attention_heads');
  const numKeyValueHeads = r.positive('num_key_value_heads', numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0)
    r.fail(
      'num_key_value_heads',
      `${numKeyValueHeads} does not divide num_attention_heads (${numAttentionHeads}): grouped-query attention needs whole groups`,
    );
  const defaultHeadDim = isQwen3 || isGlm ? 128 : isGemma ? 256 : Math.floor(hiddenSize / numAttentionHeads);
  if (!isQwen3 && !isGemma && !isGlm && !r.has('head_dim') && hiddenSize % numAttentionHeads !== 0)
    r.fail('head_dim', `is missing and hidden_size (${hiddenSize}) is not a multiple of num_attention_heads`);
  const headDim = r.positive('head_dim', defaultHeadDim);

  const actKey = isGemma && r.raw.hidden_activation != null ? 'hidden_activation' : 'hidden_act';
  const hiddenAct = r.raw[actKey] ?? (isGemma ? 'gelu_pytorch_tanh' : 'silu');
  if (hiddenAct !== (isGemma ? 'gelu_pytorch_tanh' : 'silu'))
    r.fail(
      actKey,
      `${JSON.stringify(hiddenAct)} is not supported: lmforge implements ${isGemma ? "Gemma's tanh-approximated GELU (gelu_pytorch_tanh)" : 'the SiLU MLP'} only`,
    );

  const maxPositionEmbeddings = r.positive(
    'max_position_embeddings',
    isBaichuan
      ? r.positive('model_max_length', 4096)
      : isLlama || isInternLM2
        ? 2048
        : isMistral || isMixtral
          ? 4096 * 32
          : isGemma3 || isGlm
            ? 131072
            : isGemma || isQwen2Moe
              ? 8192
              : isPhi3
                ? 4096
                : 32768,
  );
  const { ropeTheta, ropeScaling } = parseRope(r, maxPositionEmbeddings, isGemma3 ? 1000000 : 10000, isPhi3 || isGlm);
  const attentionBias = isInternLM2 ? r.bool('bias', true) : r.bool('attention_bias', isGlm);
  const numHiddenLayers = r.positive('num_hidden_layers');

  const torchDtypeName = r.raw.torch_dtype ?? r.raw.dtype ?? null;
  if (torchDtypeName !== null && typeof torchDtypeName !== 'string')
    r.fail('torch_dtype', `must be a string such as "bfloat16", got ${JSON.stringify(torchDtypeName)}`);
  const torchDtype = torchDtypeName === null ? null : (TORCH_DTYPES[torchDtypeName as string] ?? null);

  const intermediateSize = r.positive('intermediate_size');
  const moe = isMoeArchitecture(architecture)
    ? parseMoeConfig(architecture, r.raw, numHiddenLayers, intermediateSize, file)
    : undefined;
  const isQwenMoe = isQwen2Moe || isQwen3Moe;
  return Object.freeze({
    architecture,
    modelType: MODEL_TYPE[architecture],
    vocabSize: r.positive('vocab_size'),
    hiddenSize,
    intermediateSize,
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    ropeTheta,
    ropeScaling,
    rmsNormEps: r.num('rms_norm_eps', isPhi3 ? 1e-5 : isGlm ? 1.5625e-7 : 1e-6),
    qkvBias:
      isQwen3 || isLlama || isGemma || isInternLM2 || isQwen3Moe || isGlm
        ? attentionBias
        : isQwen2Moe
          ? r.bool('qkv_bias', true)
          : !isMistral && !isPhi3 && !isBaichuan && !isMixtral,
    oBias: isQwen3 || isLlama || isGemma || isInternLM2 || isQwen3Moe ? attentionBias : false,
    mlpBias: isLlama ? r.bool('mlp_bias', false) : false,
    qkNorm: isQwen3 || isQwen3Moe,
    tieWordEmbeddings: r.bool('tie_word_embeddings', isGemma),
    maxPositionEmbeddings,
    bosTokenId: r.tokenId('bos_token_id', isQwen || isQwenMoe || isGlm ? null : isGemma ? 2 : 1),
    eosTokenIds:
      isGlm && r.raw.eos_token_id === undefined
        ? GLM_EOS_TOKEN_IDS
        : parseEos(r, isQwen || isQwenMoe ? null : isGemma ? 1 : isPhi3 ? 32000 : 2),
    padTokenId: r.tokenId(
      'pad_token_id',
      isGemma || isInternLM2 || isBaichuan ? 0 : isPhi3 ? 32000 : isGlm ? GLM_EOS_TOKEN_IDS[0] : null,
    ),
    ...(isGlm ? { rotaryDim: glmRotaryDim(r, headDim) } : {}),
    torchDtype,
    slidingWindow: parseSlidingWindow(r, architecture, numHiddenLayers),
    hiddenAct: hiddenAct as ModelConfig['hiddenAct'],
    ...(moe ? { moe } : {}),
    raw: Object.freeze({ ...r.raw }),
  });
}

/**
 * ChatGLM2/3's config.json (THUDM's configuration_chatglm.py, its own key names) as a ModelConfig. Sizes are
 * required as for Llama; the rest defaults as ChatGLMConfig does. The rotary embedding turns half of each head
 * (RotaryEmbedding(kv_channels // 2)) with base 10000 * rope_ratio. apply_query_key_layer_scaling and
 * attention_softmax_in_fp32 change nothing in f32 (the layer factor cancels), so they are read as-is.
 */
function parseChatGLMConfig(r: ConfigReader, architecture: Architecture): ModelConfig {
  if (!r.bool('rmsnorm', true)) r.fail('rmsnorm', 'false (LayerNorm) is not supported: lmforge implements RMSNorm');
  if (!r.bool('post_layer_norm', true))
    r.fail('post_layer_norm', 'false is not supported: lmforge applies the final RMSNorm (as every ChatGLM2/3)');
  const hiddenSize = r.positive('hidden_size');
  const numAttentionHeads = r.positive('num_attention_heads');
  const multiQuery = r.bool('multi_query_attention', false);
  const numKeyValueHeads = multiQuery ? r.positive('multi_query_group_num', 1) : numAttentionHeads;
  if (numAttentionHeads % numKeyValueHeads !== 0)
    r.fail('multi_query_group_num', `${numKeyValueHeads} does not divide num_attention_heads (${numAttentionHeads})`);
  const headDim = r.positive('kv_channels', 128);
  if (headDim % 4 !== 0)
    r.fail('kv_channels', `${headDim} must be a multiple of 4 (half of each head rotates, in pairs)`);
  const ropeRatio = r.num('rope_ratio', 1);
  if (!(ropeRatio > 0)) r.fail('rope_ratio', `must be > 0, got ${ropeRatio}`);
  const biasLinear = r.bool('add_bias_linear', false);
  const torchDtypeName = r.raw.torch_dtype ?? null;
  return Object.freeze({
    architecture,
    modelType: MODEL_TYPE[architecture],
    vocabSize: r.positive('padded_vocab_size'),
    hiddenSize,
    intermediateSize: r.positive('ffn_hidden_size'),
    numHiddenLayers: r.positive('num_layers'),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    ropeTheta: 10000 * ropeRatio,
    ropeScaling: null,
    rmsNormEps: r.num('layernorm_epsilon', 1e-5),
    qkvBias: r.bool('add_qkv_bias', false),
    oBias: biasLinear,
    mlpBias: biasLinear,
    qkNorm: false,
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    maxPositionEmbeddings: r.positive('seq_length', 2048),
    bosTokenId: r.tokenId('bos_token_id', null),
    eosTokenIds: parseEos(r, 2),
    padTokenId: r.tokenId('pad_token_id', null),
    torchDtype: typeof torchDtypeName === 'string' ? (TORCH_DTYPES[torchDtypeName] ?? null) : null,
    slidingWindow: null,
    hiddenAct: 'silu',
    rotaryDim: headDim / 2,
    qkvPerHead: !multiQuery,
    residualPostLayernorm: r.bool('apply_residual_connection_post_layernorm', false),
    raw: Object.freeze({ ...r.raw }),
  });
}

/** GlmConfig's eos_token_id default (<|endoftext|>, <|user|>, <|observation|>), its pad_token_id the first. */
const GLM_EOS_TOKEN_IDS = [151329, 151336, 151338] as const;

// GLM's rotary dims: int(head_dim * partial_rotary_factor) (default 0.5), even, at least one pair.
function glmRotaryDim(r: ConfigReader, headDim: number): number {
  const factor = r.num('partial_rotary_factor', 0.5);
  const dim = Math.floor(headDim * factor);
  if (!(factor > 0 && factor <= 1) || dim < 2 || dim % 2 !== 0)
    r.fail('partial_rotary_factor', `${factor} x head_dim ${headDim} must give an even number of rotary dims >= 2`);
  return dim;
}

function parseArchitecture(r: ConfigReader): Architecture {
  const list = r.raw.architectures;
  const supported = `supported: ${SUPPORTED_ARCHITECTURES.join(', ')}`;
  if (!Array.isArray(list) || list.length === 0 || !list.every((a) => typeof a === 'string'))
    r.fail('architectures', `must be a non-empty list of class names (${supported})`);
  const found = (list as string[]).find((a): a is Architecture =>
    (SUPPORTED_ARCHITECTURES as readonly string[]).includes(a),
  );
  if (!found) r.fail('architectures', `${JSON.stringify(list)} is not supported (${supported})`);
  return found;
}

export function parseRope(
  r: ConfigReader,
  maxPositionEmbeddings: number,
  defaultTheta: number,
  allowPartialRotary: boolean,
): { ropeTheta: number; ropeScaling: RopeScaling | null } {
  // transformers 5 moved rope_theta and the scaling into `rope_parameters`; older files use the top-level keys.
  const params = r.raw.rope_parameters;
  const key = params !== undefined && params !== null ? 'rope_parameters' : 'rope_scaling';
  const partial = r.raw.partial_rotary_factor;
  if (allowPartialRotary) {
    if (partial !== undefined && partial !== null && !(typeof partial === 'number' && partial > 0 && partial <= 1))
      r.fail('partial_rotary_factor', `must be a number in (0, 1], got ${JSON.stringify(partial)}`);
  } else if (partial !== undefined && partial !== null && partial !== 1)
    r.fail('partial_rotary_factor', `${JSON.stringify(partial)} is not supported (only full rotary embeddings, 1)`);
  let ropeTheta = r.num('rope_theta', defaultTheta);
  const s = r.raw[key];
  if (s === undefined || s === null) return { ropeTheta, ropeScaling: null };
  if (typeof s !== 'object' || Array.isArray(s)) r.fail(key, 'must be an object or null');
  const o = s as Record<string, unknown>;
  if (key === 'rope_parameters' && o.rope_theta !== undefined) {
    if (typeof o.rope_theta !== 'number') r.fail(`${key}.rope_theta`, 'must be a number');
    ropeTheta = o.rope_theta;
  }
  // `type` is the legacy spelling of `rope_type`; transformers accepts either.
  const kind = o.rope_type ?? o.type ?? 'default';
  const numberField = (name: string, fallback?: number): number => {
    const v = o[name];
    if (v === undefined || v === null) {
      if (fallback === undefined) r.fail(`${key}.${name}`, `is required for rope_type ${JSON.stringify(kind)}`);
      return fallback;
    }
    if (typeof v !== 'number' || !Number.isFinite(v))
      r.fail(`${key}.${name}`, `must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  if (kind === 'default') return { ropeTheta, ropeScaling: null };
  if (kind === 'linear' || kind === 'dynamic') {
    const factor = numberField('factor');
    if (factor < 1) r.fail(`${key}.factor`, `must be >= 1, got ${factor}`);
    if (kind === 'linear') return { ropeTheta, ropeScaling: { type: kind, factor } };
    // HF's dynamic NTK scales relative to config.max_position_embeddings.
    return { ropeTheta, ropeScaling: { type: kind, factor, originalMaxPositionEmbeddings: maxPositionEmbeddings } };
  }
  if (kind === 'llama3') {
    const factor = numberField('factor');
    const lowFreqFactor = numberField('low_freq_factor');
    const highFreqFactor = numberField('high_freq_factor');
    const originalMaxPositionEmbeddings = numberField('original_max_position_embeddings');
    if (highFreqFactor <= lowFreqFactor)
      r.fail(`${key}.high_freq_factor`, `must exceed low_freq_factor (${highFreqFactor} <= ${lowFreqFactor})`);
    return {
      ropeTheta,
      ropeScaling: { type: 'llama3', factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings },
    };
  }
  if (kind === 'longrope' || kind === 'su') {
    const factors = (name: string): number[] => {
      const v = o[name];
      if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && x > 0))
        r.fail(`${key}.${name}`, `must be a list of numbers > 0 (one per rotary frequency), got ${JSON.stringify(v)}`);
      return v as number[];
    };
    const shortFactor = factors('short_factor');
    const longFactor = factors('long_factor');
    if (shortFactor.length !== longFactor.length)
      r.fail(`${key}.long_factor`, `has ${longFactor.length} values, short_factor ${shortFactor.length}`);
    // HF: with a top-level original_max_position_embeddings (Phi-3) the factor is the ratio of the two lengths.
    const topOriginal = r.has('original_max_position_embeddings');
    const originalMaxPositionEmbeddings = topOriginal
      ? r.positive('original_max_position_embeddings')
      : maxPositionEmbeddings;
    const factor = topOriginal ? maxPositionEmbeddings / originalMaxPositionEmbeddings : numberField('factor', 1);
    const given = o.attention_factor;
    if (given !== undefined && given !== null && (typeof given !== 'number' || !(given > 0)))
      r.fail(`${key}.attention_factor`, `must be a number > 0, got ${JSON.stringify(given)}`);
    const attentionFactor =
      typeof given === 'number'
        ? given
        : factor <= 1
          ? 1
          : Math.sqrt(1 + Math.log(factor) / Math.log(originalMaxPositionEmbeddings));
    return {
      ropeTheta,
      ropeScaling: {
        type: 'longrope',
        factor,
        shortFactor,
        longFactor,
        originalMaxPositionEmbeddings,
        attentionFactor,
      },
    };
  }
  return r.fail(
    `${key}.rope_type`,
    `${JSON.stringify(kind)} is not supported (supported: default, linear, dynamic, llama3, longrope)`,
  );
}

function parseEos(r: ConfigReader, fallback: number | null): number[] {
  const v = r.raw.eos_token_id;
  if (v === undefined) return fallback === null ? [] : [fallback];
  if (v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const id of list)
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
      r.fail('eos_token_id', `must be a token id or a list of token ids, got ${JSON.stringify(v)}`);
  return list as number[];
}

function parseSlidingWindow(r: ConfigReader, arch: Architecture, layers: number): SlidingWindow | null {
  // Gemma 2 / 3 window only some layers; their family reads the pattern itself (models/gemma2-settings.ts).
  if (
    arch === 'LlamaForCausalLM' ||
    arch === 'InternLM2ForCausalLM' ||
    arch === 'BaichuanForCausalLM' ||
    arch === 'GlmForCausalLM' ||
    GEMMA_ARCHITECTURES.includes(arch)
  )
    return null;
  if (arch === 'Phi3ForCausalLM') {
    const v = r.raw.sliding_window;
    return v === undefined || v === null ? null : { size: r.positive('sliding_window'), fromLayer: 0 };
  }
  if (arch === 'MistralForCausalLM') {
    const v = r.raw.sliding_window;
    if (v === null) return null;
    return { size: r.positive('sliding_window', 4096), fromLayer: 0 };
  }
  // MixtralConfig's sliding_window defaults to None.
  if (arch === 'MixtralForCausalLM')
    return r.has('sliding_window') ? { size: r.positive('sliding_window'), fromLayer: 0 } : null;
  if (!r.bool('use_sliding_window', false)) return null;
  if (r.raw.sliding_window === null) return null;
  const size = r.positive('sliding_window', 4096);
  const fromLayer = r.int('max_window_layers', 28);
  return fromLayer >= layers ? null : { size, fromLayer };
}

// ---------------------------------------------------------------------------------------------------------------
// Expected parameters

/**
 * Every parameter a checkpoint of this config holds, HF name -> shape, in HF's module order
 * (C hidden, V vocab, I intermediate, H heads, K kv heads, D head_dim).
 */
export function expectedParameters(cfg: ModelConfig): Map<string, number[]> {
  if (cfg.modelType === 'chatglm') return expectedChatGLMParameters(cfg);
  const C = cfg.hiddenSize;
  const V = cfg.vocabSize;
  const I = cfg.intermediateSize;
  const D = cfg.headDim;
  const HD = cfg.numAttentionHeads * D;
  const KD = cfg.numKeyValueHeads * D;
  const out = new Map<string, number[]>();
  out.set('model.embed_tokens.weight', [V, C]);
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    const a = `model.layers.${i}.self_attn`;
    const linear = (name: string, outF: number, inF: number, bias: boolean) => {
      out.set(`${name}.weight`, [outF, inF]);
      if (bias) out.set(`${name}.bias`, [outF]);
    };
    linear(`${a}.q_proj`, HD, C, cfg.qkvBias);
    linear(`${a}.k_proj`, KD, C, cfg.qkvBias);
    linear(`${a}.v_proj`, KD, C, cfg.qkvBias);
    linear(`${a}.o_proj`, C, HD, cfg.oBias);
    if (cfg.qkNorm) {
      out.set(`${a}.q_norm.weight`, [D]);
      out.set(`${a}.k_norm.weight`, [D]);
    }
    const m = `model.layers.${i}.mlp`;
    if (cfg.moe?.sparseLayers[i]) moeBlockParameters(cfg.moe, i, C, out);
    else {
      if (cfg.modelType === 'glm') linear(`${m}.gate_up_proj`, 2 * I, C, false);
      else {
        linear(`${m}.gate_proj`, I, C, cfg.mlpBias);
        linear(`${m}.up_proj`, I, C, cfg.mlpBias);
      }
      linear(`${m}.down_proj`, C, I, cfg.mlpBias);
    }
    out.set(`model.layers.${i}.input_layernorm.weight`, [C]);
    out.set(`model.layers.${i}.post_attention_layernorm.weight`, [C]);
  }
  out.set('model.norm.weight', [C]);
  if (!cfg.tieWordEmbeddings) out.set('lm_head.weight', [V, C]);
  return out;
}

/** ChatGLM2/3's parameters (modeling_chatglm's module tree under `transformer`), in its module order. */
function expectedChatGLMParameters(cfg: ModelConfig): Map<string, number[]> {
  const { hiddenSize: C, vocabSize: V, intermediateSize: I, headDim: D } = cfg;
  const qkv = (cfg.numAttentionHeads + 2 * cfg.numKeyValueHeads) * D;
  const out = new Map<string, number[]>();
  out.set('transformer.embedding.word_embeddings.weight', [V, C]);
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    const l = `transformer.encoder.layers.${i}`;
    out.set(`${l}.input_layernorm.weight`, [C]);
    out.set(`${l}.self_attention.query_key_value.weight`, [qkv, C]);
    if (cfg.qkvBias) out.set(`${l}.self_attention.query_key_value.bias`, [qkv]);
    out.set(`${l}.self_attention.dense.weight`, [C, cfg.numAttentionHeads * D]);
    if (cfg.oBias) out.set(`${l}.self_attention.dense.bias`, [C]);
    out.set(`${l}.post_attention_layernorm.weight`, [C]);
    out.set(`${l}.mlp.dense_h_to_4h.weight`, [2 * I, C]);
    if (cfg.mlpBias) out.set(`${l}.mlp.dense_h_to_4h.bias`, [2 * I]);
    out.set(`${l}.mlp.dense_4h_to_h.weight`, [C, I]);
    if (cfg.mlpBias) out.set(`${l}.mlp.dense_4h_to_h.bias`, [C]);
  }
  out.set('transformer.encoder.final_layernorm.weight', [C]);
  out.set('transformer.output_layer.weight', [V, C]);
  return out;
}

/**
 * Tensors a checkpoint may hold that are not parameters and are skipped on load, as transformers does: older Llama
 * checkpoints saved the RoPE table `rotary_emb.inv_freq` as a buffer; a tied checkpoint may still carry lm_head.
 */
export function isIgnorableCheckpointTensor(name: string, cfg: ModelConfig): boolean {
  return /\.rotary_(emb|pos_emb)\.inv_freq$/.test(name) || (cfg.tieWordEmbeddings && name === 'lm_head.weight');
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

/** Keys whose value transformers stores as a Python float (written with a ".0" when integral). */
const FLOAT_KEYS = new Set([
  'rope_theta',
  'rms_norm_eps',
  'layernorm_epsilon',
  'partial_rotary_factor',
  'rope_ratio',
  'attention_dropout',
  'initializer_range',
  'factor',
  'low_freq_factor',
  'high_freq_factor',
  'beta_fast',
  'beta_slow',
  'attention_factor',
  'mscale',
  'mscale_all_dim',
  'final_logit_softcapping',
  'attn_logit_softcapping',
  'rope_local_base_freq',
  'partial_rotary_factor',
]);

function toPy(value: unknown, key: string): PyJson {
  if (typeof value === 'number') return FLOAT_KEYS.has(key) ? pyFloat(value) : value;
  if (Array.isArray(value)) return value.map((v) => toPy(v, ''));
  if (typeof value === 'object' && value !== null) {
    const o: Record<string, PyJson> = {};
    for (const [k, v] of Object.entries(value)) o[k] = toPy(v, k);
    return o;
  }
  return value as PyJson;
}

/**
 * config.json text as transformers' `save_pretrained` writes it (sorted keys, indent 2, trailing newline). Keys
 * lmforge does not interpret are kept from `cfg.raw`; `torchDtype` overrides the stored dtype (save in bf16).
 */
export function toHfConfigJson(cfg: ModelConfig, options: { torchDtype?: DType } = {}): string {
  if (cfg.modelType === 'chatglm') return chatGLMConfigJson(cfg, options);
  const o: Record<string, unknown> = { ...cfg.raw };
  o.architectures = [cfg.architecture];
  o.model_type = cfg.modelType;
  o.vocab_size = cfg.vocabSize;
  o.hidden_size = cfg.hiddenSize;
  o.intermediate_size = cfg.intermediateSize;
  o.num_hidden_layers = cfg.numHiddenLayers;
  o.num_attention_heads = cfg.numAttentionHeads;
  o.num_key_value_heads = cfg.numKeyValueHeads;
  if (cfg.raw.head_dim !== undefined || cfg.headDim !== Math.floor(cfg.hiddenSize / cfg.numAttentionHeads))
    o.head_dim = cfg.headDim;
  // Gemma files often carry both keys (hidden_act "gelu", hidden_activation "gelu_pytorch_tanh"): keep theirs
  o.hidden_act = cfg.raw.hidden_act ?? cfg.hiddenAct;
  o.rms_norm_eps = cfg.rmsNormEps;
  o.tie_word_embeddings = cfg.tieWordEmbeddings;
  o.max_position_embeddings = cfg.maxPositionEmbeddings;
  o.bos_token_id = cfg.bosTokenId;
  o.pad_token_id = cfg.padTokenId;
  o.eos_token_id =
    cfg.eosTokenIds.length === 1 && !Array.isArray(cfg.raw.eos_token_id)
      ? cfg.eosTokenIds[0]
      : cfg.eosTokenIds.length === 0
        ? null
        : [...cfg.eosTokenIds];
  // Flags written when the source file had them or they differ from the default, so a config read and written
  // back is byte-identical (transformers versions differ in which defaults they spell out).
  const flag = (key: string, value: boolean) => {
    if (value || cfg.raw[key] !== undefined) o[key] = value;
  };
  if (cfg.architecture === 'LlamaForCausalLM') {
    flag('attention_bias', cfg.qkvBias);
    flag('mlp_bias', cfg.mlpBias);
  }
  if (cfg.architecture === 'Qwen3ForCausalLM' || GEMMA_ARCHITECTURES.includes(cfg.architecture))
    flag('attention_bias', cfg.qkvBias);
  if (cfg.architecture === 'InternLM2ForCausalLM') o.bias = cfg.qkvBias;
  if (cfg.architecture === 'GlmForCausalLM') {
    o.attention_bias = cfg.qkvBias;
    o.partial_rotary_factor = (cfg.rotaryDim ?? cfg.headDim) / cfg.headDim;
  }
  if (cfg.raw.rope_parameters === undefined || cfg.raw.rope_parameters === null) {
    o.rope_theta = cfg.ropeTheta;
    // Keep the file's own spelling (legacy `type` or `rope_type`) when it had one.
    o.rope_scaling = cfg.raw.rope_scaling !== undefined ? cfg.raw.rope_scaling : ropeScalingJson(cfg.ropeScaling);
  }
  const dtype = options.torchDtype ?? cfg.torchDtype;
  if (dtype) {
    if (cfg.raw.dtype !== undefined && cfg.raw.torch_dtype === undefined) o.dtype = TORCH_DTYPE_NAME[dtype];
    else o.torch_dtype = TORCH_DTYPE_NAME[dtype];
  }
  return `${pythonJsonDumps(toPy(o, ''), { indent: 2, sortKeys: true })}\n`;
}

/** ChatGLM's config.json, in its own key names (the inverse of parseChatGLMConfig). */
function chatGLMConfigJson(cfg: ModelConfig, options: { torchDtype?: DType }): string {
  const o: Record<string, unknown> = { ...cfg.raw };
  o.architectures = [cfg.architecture];
  o.model_type = cfg.modelType;
  o.padded_vocab_size = cfg.vocabSize;
  o.hidden_size = cfg.hiddenSize;
  o.ffn_hidden_size = cfg.intermediateSize;
  o.num_layers = cfg.numHiddenLayers;
  o.num_attention_heads = cfg.numAttentionHeads;
  o.multi_query_attention = cfg.qkvPerHead !== true;
  if (o.multi_query_attention) o.multi_query_group_num = cfg.numKeyValueHeads;
  o.kv_channels = cfg.headDim;
  o.layernorm_epsilon = cfg.rmsNormEps;
  o.seq_length = cfg.maxPositionEmbeddings;
  o.add_qkv_bias = cfg.qkvBias;
  o.add_bias_linear = cfg.oBias;
  o.rmsnorm = true;
  o.apply_residual_connection_post_layernorm = cfg.residualPostLayernorm === true;
  if (cfg.raw.rope_ratio !== undefined || cfg.ropeTheta !== 10000) o.rope_ratio = cfg.ropeTheta / 10000;
  o.tie_word_embeddings = cfg.tieWordEmbeddings;
  o.pad_token_id = cfg.padTokenId;
  o.eos_token_id = cfg.eosTokenIds.length === 1 ? cfg.eosTokenIds[0] : [...cfg.eosTokenIds];
  const dtype = options.torchDtype ?? cfg.torchDtype;
  if (dtype) o.torch_dtype = TORCH_DTYPE_NAME[dtype];
  return `${pythonJsonDumps(toPy(o, ''), { indent: 2, sortKeys: true })}\n`;
}

function ropeScalingJson(s: RopeScaling | null): Record<string, unknown> | null {
  if (s === null) return null;
  if (s.type === 'longrope')
    return { rope_type: 'longrope', short_factor: [...s.shortFactor], long_factor: [...s.longFactor] };
  if (s.type !== 'llama3') return { rope_type: s.type, factor: s.factor };
  return {
    rope_type: 'llama3',
    factor: s.factor,
    low_freq_factor: s.lowFreqFactor,
    high_freq_factor: s.highFreqFactor,
    original_max_position_embeddings: s.originalMaxPositionEmbeddings,
  };
}

/** The RoPE settings the engine's rope op takes. */
export function ropeConfigOf(cfg: ModelConfig): RopeConfig {
  return { theta: cfg.ropeTheta, scaling: cfg.ropeScaling };
}
