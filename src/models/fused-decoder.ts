/**
 * The pre-norm decoder of the families that fuse q, k and v into one projection: Phi-3 / Phi-4 (`qkv_proj`, and
 * `gate_up_proj` for the MLP), InternLM2 (`wqkv` grouped per KV head, `w1/w3/w2`) and Baichuan 2 (`W_pack`, with
 * ALiBi for the 13B and NormHead). A FusedLayout names each module as the family's checkpoints do, so LoRA targets,
 * PEFT adapters and saving use the family's own names; the fused projection is one Linear (one LoRA pair, as PEFT
 * wraps it) whose output is split into heads by a row gather (the embedding kernel: its backward scatters the
 * gradient back into the fused output's rows).
 * Shapes: B batch, T new tokens, N = B * T, C hidden, H heads, KVH key/value heads, D head_dim, F intermediate,
 * U = H + 2 * KVH head-sized units in one token's fused output.
 */
import {
  add,
  checkpoint,
  embedding,
  type Generator,
  isGradEnabled,
  type RopeFrequencies,
  rope,
  ropeInvFreq,
  scope,
  swiglu,
  Tensor,
} from '../engine/index.js';
import { type ModelConfig, ropeConfigOf } from '../io/model-config.js';
import { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { RMSNorm } from '../nn/rms-norm.js';
import { cachedAttention } from './cached-attention.js';
import type { CausalLMModule, DecoderStack, ForwardContext, WeightSource } from './family.js';
import { paddingRowOf, projectionLayer } from './family.js';
import { ModuleList } from './llama.js';
import { NormHead } from './norm-head.js';

/** Where each part lives in the family's checkpoints, and how its fused projections are packed. */
export interface FusedLayout {
  /** 'model.embed_tokens' (Phi-3, Baichuan) or 'model.tok_embeddings' (InternLM2). */
  readonly embed: string;
  readonly attention: string;
  readonly qkv: string;
  readonly out: string;
  /**
   * The unit (of D values) holding query head h / KV head g's key / value inside one token's fused output:
   * 'blocks' = [q heads | k heads | v heads] (Phi-3, Baichuan); 'grouped' = per KV head [its H/KVH q heads, k, v]
   * (InternLM2's wqkv).
   */
  readonly qkvPacking: 'blocks' | 'grouped';
  readonly inputNorm: string;
  readonly postAttentionNorm: string;
  readonly mlp: string;
  /** Phi-3's one gate_up_proj (gate rows first, then up), or three projections. */
  readonly mlpProjections:
    | { readonly gateUp: string; readonly down: string }
    | { readonly gate: string; readonly up: string; readonly down: string };
  /** 'lm_head' or InternLM2's 'output'. */
  readonly head: string;
}

/** What a fused-decoder family decides from its config beyond the layout. */
export interface FusedOptions {
  /** Dims of each head that rotate (Phi's partial_rotary_factor); D by default. */
  readonly rotaryDim: number;
  /** ALiBi slopes [H] instead of RoPE (Baichuan 2 13B). */
  readonly alibiSlopes: readonly number[] | null;
  /** Baichuan 2's NormHead: logits use the head's rows divided by their L2 norm. */
  readonly normHead: boolean;
}

interface Projection {
  forward(x: Tensor): Tensor;
}

function projection(module: Module, name: string): Projection {
  return module.child(name) as unknown as Projection;
}

/** i32 [n * heads]: row (token * unitsPerToken + unitOf(head)) for every token and head, in [N, heads] order. */
function gatherRows(n: number, heads: number, unitsPerToken: number, unitOf: (head: number) => number): Tensor {
  const rows = new Int32Array(n * heads);
  const units = Int32Array.from({ length: heads }, (_, h) => unitOf(h));
  for (let tok = 0; tok < n; tok++)
    for (let h = 0; h < heads; h++) rows[tok * heads + h] = tok * unitsPerToken + (units[h] as number);
  return Tensor.from(rows, [n * heads], 'i32');
}

class FusedAttention extends Module {
  private readonly alibi: Tensor | null;

  constructor(
    readonly cfg: ModelConfig,
    readonly layout: FusedLayout,
    readonly options: FusedOptions,
    readonly layerIndex: number,
    w: WeightSource,
    prefix: string,
  ) {
    super();
    const { hiddenSize: c, numAttentionHeads: h, numKeyValueHeads: kvh, headDim: d, qkvBias, oBias } = cfg;
    this.registerModule(layout.qkv, projectionLayer(w, prefix, layout.qkv, (h + 2 * kvh) * d, c, qkvBias));
    this.registerModule(layout.out, projectionLayer(w, prefix, layout.out, c, h * d, oBias));
    this.alibi = options.alibiSlopes ? Tensor.from(Float32Array.from(options.alibiSlopes), [h]) : null;
  }

  /** The unit of query head `head`, key `kv` or value `kv` of one token. */
  private unit(kind: 'q' | 'k' | 'v', head: number): number {
    const { numAttentionHeads: h, numKeyValueHeads: kvh } = this.cfg;
    if (this.layout.qkvPacking === 'blocks') return kind === 'q' ? head : kind === 'k' ? h + head : h + kvh + head;
    const group = h / kvh; // InternLM2: [q_0 .. q_{group-1}, k, v] per KV head
    if (kind === 'q') return Math.floor(head / group) * (group + 2) + (head % group);
    return head * (group + 2) + group + (kind === 'k' ? 0 : 1);
  }

  /** x [B, T, C] -> [B, T, C] */
  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const { numAttentionHeads: h, numKeyValueHeads: kvh, headDim: d } = this.cfg;
    const [b, t] = x.shape as [number, number, number];
    const n = b * t;
    const u = h + 2 * kvh;
    const fused = projection(this, this.layout.qkv)
      .forward(x)
      .reshape([n * u, d]); // [N * U, D]
    const take = (kind: 'q' | 'k' | 'v', heads: number) =>
      embedding(
        fused,
        gatherRows(n, heads, u, (i) => this.unit(kind, i)),
      ).reshape([b, t, heads, d]);
    let q = take('q', h);
    let k = take('k', kvh);
    const v = take('v', kvh);
    fused.releaseValues(); // the gathers' backward scatters into its rows without reading them
    if (!this.alibi) {
      const [qIn, kIn] = [q, k];
      q = rope(qIn, ctx.positionIds, ctx.rope);
      k = rope(kIn, ctx.positionIds, ctx.rope);
      qIn.releaseValues();
      kIn.releaseValues();
    }
    const window = this.cfg.slidingWindow;
    const scoring = {
      ...(window && this.layerIndex >= window.fromLayer ? { slidingWindow: window.size } : {}),
      ...(this.alibi ? { alibiSlopes: this.alibi } : {}),
    };
    const out = cachedAttention(ctx, this.layerIndex, q, k, v, scoring);
    return projection(this, this.layout.out).forward(out.reshape([b, t, h * d]));
  }

  protected override releaseBuffers(): void {
    this.alibi?.dispose();
  }
}

class FusedMlp extends Module {
  constructor(
    cfg: ModelConfig,
    private readonly layout: FusedLayout,
    w: WeightSource,
    prefix: string,
  ) {
    super();
    const { hiddenSize: c, intermediateSize: f, mlpBias } = cfg;
    const p = layout.mlpProjections;
    const lin = (name: string, out: number, inp: number) => projectionLayer(w, prefix, name, out, inp, mlpBias);
    if ('gateUp' in p) this.registerModule(p.gateUp, lin(p.gateUp, 2 * f, c));
    else {
      this.registerModule(p.gate, lin(p.gate, f, c));
      this.registerModule(p.up, lin(p.up, f, c));
    }
    this.registerModule(p.down, lin(p.down, c, f));
  }

  /** x [B, T, C] -> down(silu(gate(x)) * up(x)) [B, T, C] */
  forward(x: Tensor): Tensor {
    const p = this.layout.mlpProjections;
    const [b, t, c] = x.shape as [number, number, number];
    let act: Tensor;
    if ('gateUp' in p) {
      const fused = projection(this, p.gateUp).forward(x); // [B, T, 2F]: gate = [..., :F], up = [..., F:]
      const f = (fused.shape[2] as number) / 2;
      const rows = fused.reshape([b * t * 2, f]);
      const half = (which: number) => {
        const ids = Int32Array.from({ length: b * t }, (_, i) => 2 * i + which);
        return embedding(rows, Tensor.from(ids, [b * t], 'i32')).reshape([b, t, f]);
      };
      act = swiglu(half(0), half(1));
    } else act = swiglu(projection(this, p.gate).forward(x), projection(this, p.up).forward(x));
    const out = projection(this, p.down).forward(act);
    return out.reshape([b, t, c]);
  }
}

class FusedDecoderLayer extends Module {
  constructor(
    cfg: ModelConfig,
    private readonly layout: FusedLayout,
    options: FusedOptions,
    index: number,
    w: WeightSource,
  ) {
    super();
    const prefix = `model.layers.${index}`;
    const c = cfg.hiddenSize;
    const normAt = (name: string) => new RMSNorm(w(`${prefix}.${name}.weight`, [c]), cfg.rmsNormEps);
    this.registerModule(layout.inputNorm, normAt(layout.inputNorm));
    this.registerModule(
      layout.attention,
      new FusedAttention(cfg, layout, options, index, w, `${prefix}.${layout.attention}`),
    );
    this.registerModule(layout.postAttentionNorm, normAt(layout.postAttentionNorm));
    this.registerModule(layout.mlp, new FusedMlp(cfg, layout, w, `${prefix}.${layout.mlp}`));
  }

  /** h [B, T, C] -> h + attn(norm(h)), then + mlp(norm(.)) */
  forward(h: Tensor, ctx: ForwardContext): Tensor {
    const l = this.layout;
    const attn = (this.child(l.attention) as FusedAttention).forward(
      (this.child(l.inputNorm) as RMSNorm).forward(h),
      ctx,
    );
    const h1 = add(h, attn);
    attn.releaseValues();
    const mlp = projection(this, l.mlp).forward((this.child(l.postAttentionNorm) as RMSNorm).forward(h1));
    const out = add(h1, mlp);
    mlp.releaseValues();
    return out;
  }
}

/** `model`: embeddings, decoder layers, final norm. */
export class FusedDecoderModel extends Module implements DecoderStack {
  readonly layers: FusedDecoderLayer[] = [];
  gradientCheckpointing = false;
  rng?: Generator;

  constructor(
    readonly cfg: ModelConfig,
    readonly layout: FusedLayout,
    readonly options: FusedOptions,
    w: WeightSource,
  ) {
    super();
    const embedName = layout.embed.split('.').at(-1) as string;
    this.registerModule(
      embedName,
      new Embedding(w(`${layout.embed}.weight`, [cfg.vocabSize, cfg.hiddenSize]), paddingRowOf(cfg)),
    );
    const layers = this.registerModule('layers', new ModuleList());
    for (let i = 0; i < cfg.numHiddenLayers; i++)
      this.layers.push(layers.append(new FusedDecoderLayer(cfg, layout, options, i, w)));
    this.registerModule('norm', new RMSNorm(w('model.norm.weight', [cfg.hiddenSize]), cfg.rmsNormEps));
  }

  get embedTokens(): Embedding {
    return this.child(this.layout.embed.split('.').at(-1) as string) as Embedding;
  }

  /** RoPE over the rotary dims, for positions up to maxPosition (LongRoPE picks its table by the length). */
  ropeFrequencies(maxPosition: number): RopeFrequencies {
    return ropeInvFreq(ropeConfigOf(this.cfg), this.options.rotaryDim, maxPosition + 1);
  }

  /** inputIds i32 [B, T] -> final hidden states [B, T, C] */
  forward(inputIds: Tensor, ctx: ForwardContext): Tensor {
    let h = this.embedTokens.forward(inputIds);
    const taping = isGradEnabled() && (h.requiresGrad || this.parameters().some((p) => p.requiresGrad));
    for (const layer of this.layers) {
      const input = h;
      if (!taping) {
        h = scope(() => layer.forward(input, ctx));
        input.dispose();
        continue;
      }
      h =
        this.gradientCheckpointing && !ctx.cache && !ctx.paged
          ? checkpoint((x) => layer.forward(x, ctx), h, layer.parameters(), this.rng)
          : layer.forward(h, ctx);
    }
    return (this.child('norm') as RMSNorm).forward(h);
  }
}

/** The causal LM: `model` + the head (a Linear named as the family names it, tied or not, or a NormHead). */
export class FusedDecoderForCausalLM extends Module implements CausalLMModule {
  /** Attention reads ctx.paged (cachedAttention), with its window and ALiBi slopes. */
  readonly pagedAttention = true;

  constructor(
    readonly cfg: ModelConfig,
    readonly layout: FusedLayout,
    options: FusedOptions,
    w: WeightSource,
  ) {
    super();
    const model = this.registerModule('model', new FusedDecoderModel(cfg, layout, options, w));
    const { hiddenSize: c, vocabSize: v } = cfg;
    const weight = cfg.tieWordEmbeddings ? model.embedTokens.weight : w(`${layout.head}.weight`, [v, c]);
    this.registerModule(layout.head, options.normHead ? new NormHead(weight) : new Linear(c, v, weight));
  }

  get model(): FusedDecoderModel {
    return this.child('model') as FusedDecoderModel;
  }

  /** A NormHead's normalised rows feed the fused loss; a Linear head is found by the default rule. */
  fusedHeadWeight(): Tensor | null | undefined {
    const head = this.child(this.layout.head);
    if (head instanceof NormHead) return head.normalizedWeight();
    return this.layout.head === 'lm_head' ? undefined : head instanceof Linear && !head.bias ? head.weight : null;
  }

  /** inputIds [B, T] -> logits [B, T, V] */
  forward(inputIds: Tensor, ctx: ForwardContext): Tensor {
    return this.head(this.model.forward(inputIds, ctx));
  }

  /** hidden [..., C] -> logits [..., V] */
  head(hidden: Tensor): Tensor {
    return projection(this, this.layout.head).forward(hidden);
  }
}
