/**
 * What a model family provides: the module tree of a causal LM for one config, with HF's module and parameter paths
 * (`model.embed_tokens`, `model.layers.{i}…`, `model.norm`, `lm_head`). Everything above a family (parameters,
 * training modes, adapters, the forward and loss paths, saving) works on this shape alone, so a new family is one
 * file that implements it plus one line in `registry.ts`.
 */
import type { Generator, QuantizedMatrix, RopeFrequencies, Tensor } from '../engine/index.js';
import type { ModelConfig } from '../io/model-config.js';
import type { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import type { Module } from '../nn/module.js';
import type { KVCache } from './kv-cache.js';

/**
 * Creates (or loads) the tensor for an HF parameter path of the given shape. `projection`, when present, gives the
 * weight of a decoder layer's projection instead: a tensor, or a quantized matrix (loading quantizes as it reads).
 */
export type WeightSource = ((name: string, shape: readonly number[]) => Tensor) & {
  projection?: (name: string, shape: readonly [number, number]) => Tensor | QuantizedMatrix;
  /** The token embedding or the LM head as a GGUF file stores them: in their ggml blocks when the file quantized
   * them (bitsandbytes never quantizes these, so a quantizing source leaves this unset). */
  storedBlocks?: (name: string, shape: readonly [number, number]) => Tensor | QuantizedMatrix;
};

/** A decoder layer's projection `${prefix}.${name}` (weight [out, in], optional bias [out]), quantized when the
 * source quantizes: every family builds its attention and MLP projections with it. */
export function projectionLayer(
  w: WeightSource,
  prefix: string,
  name: string,
  out: number,
  inp: number,
  bias: boolean,
): Linear {
  const path = `${prefix}.${name}`;
  const weight = w.projection ? w.projection(`${path}.weight`, [out, inp]) : w(`${path}.weight`, [out, inp]);
  return new Linear(inp, out, weight, bias ? w(`${path}.bias`, [out]) : null);
}

/**
 * config.json's pad_token_id when it names a row of the embedding matrix, else null. Phi3Config defaults it to
 * 32000, past a 32000-token vocabulary: no token can be that id, so it pads nothing and the model works without it
 * (the embedding's padding row, the fill of left-padded generation rows).
 */
export function paddingRowOf(config: Pick<ModelConfig, 'padTokenId' | 'vocabSize'>): number | null {
  const id = config.padTokenId;
  return id !== null && Number.isInteger(id) && id >= 0 && id < config.vocabSize ? id : null;
}

/** What every layer of one forward pass shares. */
export interface ForwardContext {
  /** i32 [B, T] absolute positions (RoPE). */
  positionIds: Tensor;
  /** i32 [B, S] 1 = real key, 0 = padding. */
  keyMask?: Tensor;
  /** i32 [B, T] packed-sequence ids: attention stays within a sequence. */
  segmentIds?: Tensor;
  cache?: KVCache;
  /**
   * A paged KV cache step (serving): the batch is one row of N tokens from any mix of sequences; each layer hands
   * its q [1, N, H, D], k, v [1, N, KVH, D] to attend, which stores k, v in the sequences' blocks and returns the
   * attention output [1, N, H, D]. Takes the place of `cache`.
   */
  paged?: PagedAttentionStep;
  /** RoPE inverse frequencies for this pass (computed once per forward, shared by every layer). */
  rope: RopeFrequencies;
  /** LongLoRA's S²-Attn for this pass (a training forward of a model with shift_attn; models/shift-attention.ts). */
  shiftAttention?: boolean;
}

/**
 * How a layer scores its keys, the same in every cache: the window of keys a query sees (this layer's), the score
 * scale (default 1 / sqrt(D)), Gemma 2's soft-cap, ALiBi slopes f32 [H] (the engine's attention options).
 */
export interface AttentionScoring {
  slidingWindow?: number;
  scale?: number;
  softcap?: number;
  alibiSlopes?: Tensor;
}

/** One forward step over a paged KV cache (src/serve/paged-kv-cache.ts). */
export interface PagedAttentionStep {
  attend(layer: number, q: Tensor, k: Tensor, v: Tensor, scoring?: AttentionScoring): Tensor;
}

/** `model`: embeddings, decoder layers, final norm. */
export interface DecoderStack extends Module {
  readonly embedTokens: Embedding;
  /** Recompute each layer's activations in the backward instead of keeping them. */
  gradientCheckpointing: boolean;
  /** The dropout stream, rewound by checkpointed layers that draw random numbers (LoRA dropout). */
  rng?: Generator;
  /** Train with LongLoRA's shifted sparse attention (shift_attn); applies to training-mode forwards only. */
  shiftAttention?: boolean;
  /** RoPE frequencies for positions up to maxPosition. */
  ropeFrequencies(maxPosition: number): RopeFrequencies;
  /** inputIds i32 [B, T] -> final hidden states [B, T, C] */
  forward(inputIds: Tensor, ctx: ForwardContext): Tensor;
}

/** The causal LM: `model` + `lm_head` (a child Linear, which LoRA may wrap). */
export interface CausalLMModule extends Module {
  readonly cfg: ModelConfig;
  readonly model: DecoderStack;
  /** inputIds [B, T] -> logits [B, T, V] */
  forward(inputIds: Tensor, ctx: ForwardContext): Tensor;
  /** hidden [..., C] -> logits [..., V] (generation computes the head for the last position only). */
  head(hidden: Tensor): Tensor;
  /**
   * The weight [V, C] with logits = hidden @ W^T for the fused loss: absent or undefined = lm_head's own weight when
   * it is a plain projection; null = head() does more (Gemma 2's soft-capping), so losses go through the logits.
   */
  fusedHeadWeight?(): Tensor | null | undefined;
  /**
   * A mixture-of-experts family's router_aux_loss_coef x load-balancing loss of the last forward, as a scalar node
   * over `anchor` (that forward's final hidden state or logits), `weight` times (1 for a mean loss, the counted
   * tokens for a summed one); null when the model adds none (models/moe.ts).
   */
  routerAuxLoss?(anchor: Tensor, weight: number): Tensor | null;
  /** The output head's module path when it is not `lm_head` (ChatGLM's `transformer.output_layer`). */
  readonly headPath?: string;
  /** The layers' Linear names LoRA's `all` targets when they are not Llama's (q_proj ... down_proj). */
  readonly linearModuleNames?: readonly string[];
  /**
   * True when every attention layer reads ForwardContext.paged (the serving scheduler's paged KV cache); absent =
   * the family only knows the contiguous KV cache, so serving generates through generate() instead.
   */
  readonly pagedAttention?: boolean;
}

/** The output head's module path: LoRA's `all` skips it, the fused loss reads its weight. */
export function headPathOf(module: CausalLMModule): string {
  return module.headPath ?? 'lm_head';
}

export interface ModelFamily {
  /** For messages: 'llama'. */
  readonly name: string;
  /** config.json `architectures` entries this family builds. */
  readonly architectures: readonly string[];
  /** The module tree for `config`, every parameter taken from `weights` by its HF path. */
  build(config: ModelConfig, weights: WeightSource): CausalLMModule;
  /** Every parameter a checkpoint holds, HF name -> shape; absent = the Llama layout (io/model-config.ts). */
  expectedParameters?(config: ModelConfig): Map<string, number[]>;
}
