/**
 * The Llama family decoder: Llama 2/3, Mistral, Qwen2 (q/k/v biases), Qwen3 (per-head q/k RMSNorm), SmolLM, TinyLlama,
 * Yi — one implementation switched by ModelConfig flags. Module and parameter paths are HF's:
 *   model.embed_tokens, model.layers.{i}.{input_layernorm, self_attn.{q,k,v,o}_proj, self_attn.{q,k}_norm,
 *   post_attention_layernorm, mlp.{gate,up,down}_proj}, model.norm, lm_head.
 * Shapes: B batch, T new tokens, S keys (T, or the KV cache's capacity), C hidden, H heads, KVH key/value heads,
 * D head_dim, F intermediate, V vocab.
 */
import {
  add,
  checkpoint,
  type Generator,
  isGradEnabled,
  type RopeFrequencies,
  rope,
  ropeInvFreq,
  scale,
  scope,
  swiglu,
  type Tensor,
} from '../engine/index.js';
import { type ModelConfig, ropeConfigOf } from '../io/model-config.js';
import { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { RMSNorm } from '../nn/rms-norm.js';
import { cachedAttention } from './cached-attention.js';
import {
  type CausalLMModule,
  type DecoderStack,
  type ForwardContext,
  type ModelFamily,
  paddingRowOf,
  projectionLayer,
  type WeightSource,
} from './family.js';
import { shiftedSparseAttention } from './shift-attention.js';

/** Anything with forward(x): a Linear, or a LoraLinear wrapped around one. */
interface Projection {
  forward(x: Tensor): Tensor;
}

/**
 * What a family built on this decoder changes (gemma.ts): its RMSNorm, its MLP, and the factor the embeddings are
 * multiplied by before the first layer.
 */
export interface DecoderParts {
  norm(weight: Tensor, eps: number): RMSNorm;
  /** Layer `layerIndex`'s MLP at `prefix` (`model.layers.{i}.{mlpName}`). */
  mlp(cfg: ModelConfig, w: WeightSource, prefix: string, layerIndex: number): Module & Projection;
  embedScale(cfg: ModelConfig): number;
  /** The MLP's module name in a layer (default `mlp`; Mixtral's sparse block is `block_sparse_moe`). */
  mlpName?: string;
  /** Called as each forward pass starts, before the first layer (the MoE router statistics reset here). */
  beginForward?(inputIds: Tensor, ctx: ForwardContext): void;
  /** Rotary embedding of q or k [B, T, H, D] (GLM's partial interleaved one); absent: Llama's rope. */
  rotary?(cfg: ModelConfig, x: Tensor, ctx: ForwardContext): Tensor;
  /** The frequencies `rotary` reads from ctx.rope; absent: Llama's over the whole head. */
  ropeFrequencies?(cfg: ModelConfig, maxPosition: number): RopeFrequencies;
}

/**
 * Frees activations whose values no backward reads: RoPE's input (its backward rotates the gradient back) and the
 * attention / MLP outputs once added into the residual stream (add's backward passes the gradient through). The
 * tensors stay in the graph for their shapes; without this a step's scope keeps them to its end, ~18% of a Llama
 * layer's activations (PyTorch frees them by reference count).
 */
export function releaseActivations(tensors: readonly Tensor[]): void {
  for (const t of tensors) t.releaseValues();
}

function projection(module: Module, name: string): Projection {
  return module.child(name) as unknown as Projection;
}

class Attention extends Module {
  /** Keys a query sees in this layer (config.slidingWindow from its fromLayer on), or undefined: full causal. */
  readonly slidingWindow: number | undefined;

  constructor(
    readonly cfg: ModelConfig,
    readonly layerIndex: number,
    w: WeightSource,
    prefix: string,
    private readonly parts: DecoderParts = LLAMA_PARTS,
  ) {
    super();
    const sw = cfg.slidingWindow;
    this.slidingWindow = sw && layerIndex >= sw.fromLayer ? sw.size : undefined;
    const { hiddenSize: c, numAttentionHeads: h, numKeyValueHeads: kvh, headDim: d, qkvBias, oBias } = cfg;
    const lin = (name: string, out: number, inp: number, bias: boolean) =>
      projectionLayer(w, prefix, name, out, inp, bias);
    this.registerModule('q_proj', lin('q_proj', h * d, c, qkvBias));
    this.registerModule('k_proj', lin('k_proj', kvh * d, c, qkvBias));
    this.registerModule('v_proj', lin('v_proj', kvh * d, c, qkvBias));
    this.registerModule('o_proj', lin('o_proj', c, h * d, oBias));
    if (cfg.qkNorm) {
      this.registerModule('q_norm', new RMSNorm(w(`${prefix}.q_norm.weight`, [d]), cfg.rmsNormEps));
      this.registerModule('k_norm', new RMSNorm(w(`${prefix}.k_norm.weight`, [d]), cfg.rmsNormEps));
    }
  }

  /** x [B, T, C] -> [B, T, C] */
  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const { numAttentionHeads: h, numKeyValueHeads: kvh, headDim: d } = this.cfg;
    const [b, t] = x.shape as [number, number, number];
    const qLinear = projection(this, 'q_proj').forward(x);
    const kLinear = projection(this, 'k_proj').forward(x);
    const v = projection(this, 'v_proj').forward(x).reshape([b, t, kvh, d]);
    let qIn = qLinear.reshape([b, t, h, d]);
    let kIn = kLinear.reshape([b, t, kvh, d]);
    // With q/k norms their inputs stay (RMSNorm's backward reads them); the norms' outputs feed RoPE only.
    const preRope: Tensor[] = this.cfg.qkNorm ? [] : [qLinear, qIn, kLinear, kIn];
    if (this.cfg.qkNorm) {
      qIn = (this.child('q_norm') as RMSNorm).forward(qIn);
      kIn = (this.child('k_norm') as RMSNorm).forward(kIn);
      preRope.push(qIn, kIn);
    }
    const rotary = this.parts.rotary;
    const q = rotary ? rotary(this.cfg, qIn, ctx) : rope(qIn, ctx.positionIds, ctx.rope);
    const k = rotary ? rotary(this.cfg, kIn, ctx) : rope(kIn, ctx.positionIds, ctx.rope);
    releaseActivations(preRope);
    // The window is over absolute key indices (cache slots, left padding included), as HF's mask over
    // cache_position. The cache keeps every key of a windowed layer (HF's DynamicCache does too, and only masks):
    // exact and simple, and the kernel skips the key tiles outside the window, so only memory grows with length.
    const window = this.slidingWindow === undefined ? {} : { slidingWindow: this.slidingWindow };
    let out: Tensor;
    if (ctx.shiftAttention && !ctx.cache && !ctx.paged) {
      if (ctx.segmentIds) throw new Error('shift_attn cannot attend within packed sequences; turn off neat_packing');
      out = shiftedSparseAttention(q, k, v, ctx.keyMask);
    } else {
      out = cachedAttention(ctx, this.layerIndex, q, k, v, window);
    }
    return projection(this, 'o_proj').forward(out.reshape([b, t, h * d]));
  }
}

/** How a gated MLP joins its gate and up projections: Llama's SwiGLU, silu(gate) * up (one fused kernel). */
export type GateActivation = (gate: Tensor, up: Tensor) => Tensor;

/** The gated MLP of the Llama family; a family with another activation (Gemma's GeGLU) passes its own. */
export class Mlp extends Module {
  constructor(
    cfg: ModelConfig,
    w: WeightSource,
    prefix: string,
    private readonly activation: GateActivation = swiglu,
  ) {
    super();
    const { hiddenSize: c, intermediateSize: f, mlpBias } = cfg;
    const lin = (name: string, out: number, inp: number) => projectionLayer(w, prefix, name, out, inp, mlpBias);
    this.registerModule('gate_proj', lin('gate_proj', f, c));
    this.registerModule('up_proj', lin('up_proj', f, c));
    this.registerModule('down_proj', lin('down_proj', c, f));
  }

  /** x [B, T, C] -> down(activation(gate(x), up(x))) [B, T, C] */
  forward(x: Tensor): Tensor {
    const gate = projection(this, 'gate_proj').forward(x);
    const up = projection(this, 'up_proj').forward(x);
    return projection(this, 'down_proj').forward(this.activation(gate, up));
  }
}

export class DecoderLayer extends Module {
  constructor(cfg: ModelConfig, index: number, w: WeightSource, parts: DecoderParts = LLAMA_PARTS) {
    super();
    const prefix = `model.layers.${index}`;
    this.registerModule(
      'input_layernorm',
      parts.norm(w(`${prefix}.input_layernorm.weight`, [cfg.hiddenSize]), cfg.rmsNormEps),
    );
    this.registerModule('self_attn', new Attention(cfg, index, w, `${prefix}.self_attn`, parts));
    this.registerModule(
      'post_attention_layernorm',
      parts.norm(w(`${prefix}.post_attention_layernorm.weight`, [cfg.hiddenSize]), cfg.rmsNormEps),
    );
    this.mlpName = parts.mlpName ?? 'mlp';
    this.registerModule(this.mlpName, parts.mlp(cfg, w, `${prefix}.${this.mlpName}`, index));
  }

  private readonly mlpName: string;

  /** h [B, T, C] -> h + attn(norm(h)), then + mlp(norm(.)) */
  forward(h: Tensor, ctx: ForwardContext): Tensor {
    const attn = (this.child('self_attn') as Attention).forward(
      (this.child('input_layernorm') as RMSNorm).forward(h),
      ctx,
    );
    const h1 = add(h, attn);
    releaseActivations([attn]);
    const mlp = projection(this, this.mlpName).forward((this.child('post_attention_layernorm') as RMSNorm).forward(h1));
    const out = add(h1, mlp);
    releaseActivations([mlp]);
    return out;
  }
}

/** `model`: embeddings, decoder layers, final norm. */
export class LlamaModel extends Module implements DecoderStack {
  readonly layers: DecoderLayer[] = [];
  /** Recompute each layer's activations in the backward instead of keeping them. */
  gradientCheckpointing = false;
  /** Rewound by checkpointed layers that draw random numbers (LoRA dropout). */
  rng?: Generator;
  /** LongLoRA's S²-Attn in training-mode forwards (shift_attn). */
  shiftAttention = false;

  /** Gemma's sqrt(hidden_size) (1 for Llama). */
  private readonly embedScale: number;
  private readonly beginForward: DecoderParts['beginForward'];

  constructor(
    readonly cfg: ModelConfig,
    w: WeightSource,
    private readonly parts: DecoderParts = LLAMA_PARTS,
  ) {
    super();
    this.embedScale = parts.embedScale(cfg);
    this.beginForward = parts.beginForward;
    this.registerModule(
      'embed_tokens',
      new Embedding(
        (w.storedBlocks ?? w)('model.embed_tokens.weight', [cfg.vocabSize, cfg.hiddenSize]),
        paddingRowOf(cfg),
      ),
    );
    const layers = this.registerModule('layers', new ModuleList());
    for (let i = 0; i < cfg.numHiddenLayers; i++) this.layers.push(layers.append(new DecoderLayer(cfg, i, w, parts)));
    this.registerModule('norm', parts.norm(w('model.norm.weight', [cfg.hiddenSize]), cfg.rmsNormEps));
  }

  get embedTokens(): Embedding {
    return this.child('embed_tokens') as Embedding;
  }

  /** RoPE frequencies for positions up to maxPosition (dynamic NTK rescales past the original length). */
  ropeFrequencies(maxPosition: number): RopeFrequencies {
    if (this.parts.ropeFrequencies) return this.parts.ropeFrequencies(this.cfg, maxPosition);
    return ropeInvFreq(ropeConfigOf(this.cfg), this.cfg.headDim, maxPosition + 1);
  }

  /** inputIds i32 [B, T] -> final hidden states [B, T, C] */
  forward(inputIds: Tensor, context: ForwardContext): Tensor {
    const ctx = this.shiftAttention && this.training && !context.cache ? { ...context, shiftAttention: true } : context;
    this.beginForward?.(inputIds, ctx);
    let h = this.embedTokens.forward(inputIds);
    if (this.embedScale !== 1) h = scale(h, this.embedScale);
    return (this.child('norm') as RMSNorm).forward(forwardLayers(this, this.layers, h, ctx));
  }
}

/** A decoder layer as forwardLayers runs it. */
export interface ResidualLayer extends Module {
  forward(h: Tensor, ctx: ForwardContext): Tensor;
}

/**
 * h [B, T, C] through every layer, as each family's stack runs them: freed layer by layer without a tape,
 * checkpointed when the stack asks for it.
 */
export function forwardLayers(
  stack: Module & { gradientCheckpointing: boolean; rng?: Generator },
  layers: readonly ResidualLayer[],
  h: Tensor,
  ctx: ForwardContext,
): Tensor {
  // Without a tape no activation outlives its layer: each layer's are freed as it ends, so an inference forward
  // holds one layer's activations instead of every layer's (a 512-token SmolLM2 forward: ~15 MB, not ~450 MB).
  const taping = isGradEnabled() && (h.requiresGrad || stack.parameters().some((p) => p.requiresGrad));
  for (const layer of layers) {
    const input = h;
    if (!taping) {
      h = scope(() => layer.forward(input, ctx));
      input.dispose();
      continue;
    }
    const useCheckpoint = stack.gradientCheckpointing && !ctx.cache && !ctx.paged;
    h = useCheckpoint
      ? checkpoint((x) => layer.forward(x, ctx), h, layer.parameters(), stack.rng)
      : layer.forward(h, ctx);
  }
  return h;
}

/** An indexable list of modules named 0, 1, 2, ... (torch.nn.ModuleList). */
export class ModuleList extends Module {
  private count = 0;
  append<M extends Module>(m: M): M {
    return this.registerModule(String(this.count++), m);
  }
}

/** The causal LM: `model` + `lm_head` (shares the embedding matrix when tie_word_embeddings). */
export class LlamaForCausalLM extends Module implements CausalLMModule {
  /** Attention reads ctx.paged (every family built on these layers: Llama, Qwen, Mistral, Gemma, GLM-4, MoE). */
  readonly pagedAttention = true;

  constructor(
    readonly cfg: ModelConfig,
    w: WeightSource,
    parts: DecoderParts = LLAMA_PARTS,
  ) {
    super();
    const model = this.registerModule('model', new LlamaModel(cfg, w, parts));
    // A GGUF file's quantized head (or tied token_embd) stays in its blocks: decoding reads it with integer dots.
    const embedding = model.embedTokens;
    const head = cfg.tieWordEmbeddings
      ? new Linear(cfg.hiddenSize, cfg.vocabSize, embedding.quantized ?? embedding.weight)
      : new Linear(
          cfg.hiddenSize,
          cfg.vocabSize,
          (w.storedBlocks ?? w)('lm_head.weight', [cfg.vocabSize, cfg.hiddenSize]),
        );
    this.registerModule('lm_head', head);
  }

  get model(): LlamaModel {
    return this.child('model') as LlamaModel;
  }

  get lmHead(): Projection {
    return projection(this, 'lm_head');
  }

  /** inputIds [B, T] -> logits [B, T, V] */
  forward(inputIds: Tensor, ctx: ForwardContext): Tensor {
    return this.lmHead.forward(this.model.forward(inputIds, ctx));
  }

  /** hidden [..., C] -> logits [..., V] (generation computes the head for the last position only). */
  head(hidden: Tensor): Tensor {
    return this.lmHead.forward(hidden);
  }
}

/** Llama's parts: LlamaRMSNorm, the SwiGLU MLP, unscaled embeddings. */
export const LLAMA_PARTS: DecoderParts = {
  norm: (weight, eps) => new RMSNorm(weight, eps),
  mlp: (cfg, w, prefix) => new Mlp(cfg, w, prefix),
  embedScale: () => 1,
};

/** Llama 2/3, Mistral, Qwen2, Qwen3 (SmolLM, TinyLlama, Yi are Llama): one decoder, switched by ModelConfig flags. */
export const llamaFamily: ModelFamily = {
  name: 'llama',
  architectures: ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM', 'Qwen3ForCausalLM'],
  build: (config, weights) => new LlamaForCausalLM(config, weights),
};
