/**
 * Gemma 2 (Gemma2ForCausalLM) and Gemma 3 text (Gemma3ForCausalLM), from transformers' modeling_gemma2 and
 * modeling_gemma3: Gemma's (1 + w) RMSNorm, GeGLU MLP and sqrt(hidden) embedding scale (gemma.ts), plus
 * - four norms per layer: input_layernorm -> attention -> post_attention_layernorm -> + residual, then
 *   pre_feedforward_layernorm -> MLP -> post_feedforward_layernorm -> + residual;
 * - scores scaled by query_pre_attn_scalar^-0.5 and soft-capped (cap * tanh(s / cap)) inside the attention kernel;
 * - local layers with a sliding window, global layers without (gemma2-settings.ts says which);
 * - the final logits soft-capped;
 * - Gemma 3: per-head (1 + w) q/k norms before RoPE, and local layers rotating with their own base frequency.
 * HF's module and parameter paths, so LoRA targets and PEFT adapters name the same projections.
 * Shapes: B batch, T new tokens, S keys, C hidden, H heads, KVH key/value heads, D head_dim, V vocab.
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
  type Tensor,
  tanh,
} from '../engine/index.js';
import { expectedParameters, type ModelConfig, ropeConfigOf } from '../io/model-config.js';
import { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import type { RMSNorm } from '../nn/rms-norm.js';
import { cachedAttention } from './cached-attention.js';
import type { CausalLMModule, DecoderStack, ForwardContext, ModelFamily, WeightSource } from './family.js';
import { paddingRowOf, projectionLayer } from './family.js';
import { GEMMA_PARTS, GemmaRMSNorm } from './gemma.js';
import { type GemmaTwoSettings, gemmaTwoSettings } from './gemma2-settings.js';
import { ModuleList } from './llama.js';

interface Projection {
  forward(x: Tensor): Tensor;
}

function projection(module: Module, name: string): Projection {
  return module.child(name) as unknown as Projection;
}

function norm(module: Module, name: string): RMSNorm {
  return module.child(name) as RMSNorm;
}

/** cap * tanh(x / cap): Gemma 2's soft-capping of the final logits. */
export function softcap(x: Tensor, cap: number): Tensor {
  return scale(tanh(scale(x, 1 / cap)), cap);
}

class GemmaTwoAttention extends Module {
  constructor(
    readonly cfg: ModelConfig,
    readonly settings: GemmaTwoSettings,
    readonly layerIndex: number,
    w: WeightSource,
    prefix: string,
  ) {
    super();
    const { hiddenSize: c, numAttentionHeads: h, numKeyValueHeads: kvh, headDim: d, qkvBias, oBias } = cfg;
    const lin = (name: string, out: number, inp: number, bias: boolean) =>
      projectionLayer(w, prefix, name, out, inp, bias);
    this.registerModule('q_proj', lin('q_proj', h * d, c, qkvBias));
    this.registerModule('k_proj', lin('k_proj', kvh * d, c, qkvBias));
    this.registerModule('v_proj', lin('v_proj', kvh * d, c, qkvBias));
    this.registerModule('o_proj', lin('o_proj', c, h * d, oBias));
    if (settings.qkNorm) {
      this.registerModule('q_norm', new GemmaRMSNorm(w(`${prefix}.q_norm.weight`, [d]), cfg.rmsNormEps));
      this.registerModule('k_norm', new GemmaRMSNorm(w(`${prefix}.k_norm.weight`, [d]), cfg.rmsNormEps));
    }
  }

  /** x [B, T, C] -> [B, T, C]; `freqs` is this layer's RoPE (Gemma 3's local layers have their own). */
  forward(x: Tensor, ctx: ForwardContext, freqs: RopeFrequencies): Tensor {
    const { numAttentionHeads: h, numKeyValueHeads: kvh, headDim: d } = this.cfg;
    const [b, t] = x.shape as [number, number, number];
    let qIn = projection(this, 'q_proj').forward(x).reshape([b, t, h, d]);
    let kIn = projection(this, 'k_proj').forward(x).reshape([b, t, kvh, d]);
    const v = projection(this, 'v_proj').forward(x).reshape([b, t, kvh, d]);
    if (this.settings.qkNorm) {
      qIn = norm(this, 'q_norm').forward(qIn);
      kIn = norm(this, 'k_norm').forward(kIn);
    }
    const q = rope(qIn, ctx.positionIds, freqs);
    const k = rope(kIn, ctx.positionIds, freqs);
    // RoPE's backward rotates the gradient back without its input (q/k norms keep their own inputs).
    qIn.releaseValues();
    kIn.releaseValues();
    const window = this.settings.layerWindows[this.layerIndex];
    const cap = this.settings.attnLogitSoftcapping;
    const scoring = {
      scale: this.settings.attentionScale,
      ...(window === null || window === undefined ? {} : { slidingWindow: window }),
      ...(cap === null ? {} : { softcap: cap }),
    };
    const out = cachedAttention(ctx, this.layerIndex, q, k, v, scoring);
    return projection(this, 'o_proj').forward(out.reshape([b, t, h * d]));
  }
}

const LAYER_NORMS = [
  'input_layernorm',
  'post_attention_layernorm',
  'pre_feedforward_layernorm',
  'post_feedforward_layernorm',
] as const;

class GemmaTwoDecoderLayer extends Module {
  constructor(cfg: ModelConfig, settings: GemmaTwoSettings, index: number, w: WeightSource) {
    super();
    const prefix = `model.layers.${index}`;
    const c = cfg.hiddenSize;
    for (const name of LAYER_NORMS)
      this.registerModule(name, new GemmaRMSNorm(w(`${prefix}.${name}.weight`, [c]), cfg.rmsNormEps));
    this.registerModule('self_attn', new GemmaTwoAttention(cfg, settings, index, w, `${prefix}.self_attn`));
    this.registerModule('mlp', GEMMA_PARTS.mlp(cfg, w, `${prefix}.mlp`, index));
  }

  /** h [B, T, C] -> h + postAttnNorm(attn(inputNorm(h))), then + postFfNorm(mlp(preFfNorm(.))) */
  forward(h: Tensor, ctx: ForwardContext, freqs: RopeFrequencies): Tensor {
    const attn = (this.child('self_attn') as GemmaTwoAttention).forward(
      norm(this, 'input_layernorm').forward(h),
      ctx,
      freqs,
    );
    const attnOut = norm(this, 'post_attention_layernorm').forward(attn);
    const h1 = add(h, attnOut);
    attnOut.releaseValues(); // add's backward passes the gradient through
    const mlp = projection(this, 'mlp').forward(norm(this, 'pre_feedforward_layernorm').forward(h1));
    const mlpOut = norm(this, 'post_feedforward_layernorm').forward(mlp);
    const out = add(h1, mlpOut);
    mlpOut.releaseValues();
    return out;
  }
}

/** `model`: scaled embeddings, decoder layers, final norm. */
export class GemmaTwoModel extends Module implements DecoderStack {
  readonly layers: GemmaTwoDecoderLayer[] = [];
  gradientCheckpointing = false;
  rng?: Generator;
  readonly settings: GemmaTwoSettings;
  /** Gemma 3's local layers: default RoPE with rope_local_base_freq (position-independent, computed once). */
  private readonly localRope: RopeFrequencies | null;

  constructor(
    readonly cfg: ModelConfig,
    w: WeightSource,
    gemma3: boolean,
  ) {
    super();
    this.settings = gemmaTwoSettings(cfg, gemma3);
    const theta = this.settings.localRopeTheta;
    this.localRope = theta === null ? null : ropeInvFreq({ theta, scaling: null }, cfg.headDim);
    this.registerModule(
      'embed_tokens',
      new Embedding(w('model.embed_tokens.weight', [cfg.vocabSize, cfg.hiddenSize]), paddingRowOf(cfg)),
    );
    const layers = this.registerModule('layers', new ModuleList());
    for (let i = 0; i < cfg.numHiddenLayers; i++)
      this.layers.push(layers.append(new GemmaTwoDecoderLayer(cfg, this.settings, i, w)));
    this.registerModule('norm', new GemmaRMSNorm(w('model.norm.weight', [cfg.hiddenSize]), cfg.rmsNormEps));
  }

  get embedTokens(): Embedding {
    return this.child('embed_tokens') as Embedding;
  }

  /** The global layers' RoPE (rope_theta with rope_scaling) for positions up to maxPosition. */
  ropeFrequencies(maxPosition: number): RopeFrequencies {
    return ropeInvFreq(ropeConfigOf(this.cfg), this.cfg.headDim, maxPosition + 1);
  }

  /** inputIds i32 [B, T] -> final hidden states [B, T, C] */
  forward(inputIds: Tensor, ctx: ForwardContext): Tensor {
    let h = scale(this.embedTokens.forward(inputIds), GEMMA_PARTS.embedScale(this.cfg));
    const taping = isGradEnabled() && (h.requiresGrad || this.parameters().some((p) => p.requiresGrad));
    for (const [i, layer] of this.layers.entries()) {
      const local = this.settings.layerWindows[i] !== null;
      const freqs = local && this.localRope ? this.localRope : ctx.rope;
      const input = h;
      if (!taping) {
        h = scope(() => layer.forward(input, ctx, freqs));
        input.dispose();
        continue;
      }
      h =
        this.gradientCheckpointing && !ctx.cache && !ctx.paged
          ? checkpoint((x) => layer.forward(x, ctx, freqs), h, layer.parameters(), this.rng)
          : layer.forward(h, ctx, freqs);
    }
    return norm(this, 'norm').forward(h);
  }
}

/** The causal LM: `model` + tied (or separate) `lm_head`, logits soft-capped when the config says so. */
export class GemmaTwoForCausalLM extends Module implements CausalLMModule {
  /** Attention reads ctx.paged (cachedAttention), with its scale, soft-cap and per-layer windows. */
  readonly pagedAttention = true;

  constructor(
    readonly cfg: ModelConfig,
    w: WeightSource,
    gemma3: boolean,
  ) {
    super();
    const model = this.registerModule('model', new GemmaTwoModel(cfg, w, gemma3));
    const weight = cfg.tieWordEmbeddings
      ? model.embedTokens.weight
      : w('lm_head.weight', [cfg.vocabSize, cfg.hiddenSize]);
    this.registerModule('lm_head', new Linear(cfg.hiddenSize, cfg.vocabSize, weight));
  }

  get model(): GemmaTwoModel {
    return this.child('model') as GemmaTwoModel;
  }

  /** Soft-capped logits are not hidden @ W^T: the fused loss must go through head(). */
  fusedHeadWeight(): Tensor | null | undefined {
    return this.model.settings.finalLogitSoftcapping === null ? undefined : null;
  }

  /** inputIds [B, T] -> logits [B, T, V] */
  forward(inputIds: Tensor, ctx: ForwardContext): Tensor {
    return this.head(this.model.forward(inputIds, ctx));
  }

  /** hidden [..., C] -> logits [..., V], cap * tanh(logits / cap) with final_logit_softcapping. */
  head(hidden: Tensor): Tensor {
    const logits = projection(this, 'lm_head').forward(hidden);
    const cap = this.model.settings.finalLogitSoftcapping;
    return cap === null ? logits : softcap(logits, cap);
  }
}

/** Llama's parameters plus the two feed-forward norms per layer (and Gemma 3's q/k norms). */
function gemmaTwoParameters(cfg: ModelConfig, gemma3: boolean): Map<string, number[]> {
  const out = expectedParameters(cfg);
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    const prefix = `model.layers.${i}`;
    out.set(`${prefix}.pre_feedforward_layernorm.weight`, [cfg.hiddenSize]);
    out.set(`${prefix}.post_feedforward_layernorm.weight`, [cfg.hiddenSize]);
    if (gemma3) {
      out.set(`${prefix}.self_attn.q_norm.weight`, [cfg.headDim]);
      out.set(`${prefix}.self_attn.k_norm.weight`, [cfg.headDim]);
    }
  }
  return out;
}

export const gemma2Family: ModelFamily = {
  name: 'gemma2',
  architectures: ['Gemma2ForCausalLM'],
  build: (config, weights) => new GemmaTwoForCausalLM(config, weights, false),
  expectedParameters: (config) => gemmaTwoParameters(config, false),
};

export const gemma3Family: ModelFamily = {
  name: 'gemma3',
  architectures: ['Gemma3ForCausalLM'],
  build: (config, weights) => new GemmaTwoForCausalLM(config, weights, true),
  expectedParameters: (config) => gemmaTwoParameters(config, true),
};
