/**
 * ChatGLM2/3 (THUDM's modeling_chatglm.py: ChatGLMModel / ChatGLMForConditionalGeneration), with its module and
 * parameter paths:
 *   transformer.embedding.word_embeddings,
 *   transformer.encoder.layers.{i}.{input_layernorm, self_attention.{query_key_value, dense},
 *     post_attention_layernorm, mlp.{dense_h_to_4h, dense_4h_to_h}},
 *   transformer.encoder.final_layernorm, transformer.output_layer.
 * query_key_value is one Linear whose output is [q (H*D) | k (G*D) | v (G*D)] with G multi-query groups (head j reads
 * group j / (H/G), as grouped-query attention), or [q_h | k_h | v_h] per head without multi_query_attention; the rotary embedding turns half of each head in interleaved pairs
 * (glm-rotary.ts); dense_h_to_4h is the fused SwiGLU (fused-gated-mlp.ts). Blocks shared with llama.ts: the layer
 * loop (forwardLayers), RMSNorm, Linear, the attention kernel.
 * Shapes: B batch, T new tokens, C hidden, H heads, G groups, D kv_channels, V padded vocab.
 */
import { add, type Generator, narrowLastDim, type RopeFrequencies, type Tensor } from '../engine/index.js';
import type { ModelConfig } from '../io/model-config.js';
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
import { FusedGatedMlp } from './fused-gated-mlp.js';
import { glmRopeFrequencies, glmRotary } from './glm-rotary.js';
import { forwardLayers, ModuleList, releaseActivations } from './llama.js';

interface Projection {
  forward(x: Tensor): Tensor;
}

function projection(module: Module, name: string): Projection {
  return module.child(name) as unknown as Projection;
}

/** A module that only groups children under a path segment (`embedding`, `encoder`). */
class Group extends Module {
  add<M extends Module>(name: string, m: M): M {
    return this.registerModule(name, m);
  }
}

class SelfAttention extends Module {
  constructor(
    readonly cfg: ModelConfig,
    readonly layerIndex: number,
    w: WeightSource,
    prefix: string,
  ) {
    super();
    const { hiddenSize: c, numAttentionHeads: h, numKeyValueHeads: g, headDim: d, qkvBias, oBias } = cfg;
    this.registerModule('query_key_value', projectionLayer(w, prefix, 'query_key_value', (h + 2 * g) * d, c, qkvBias));
    this.registerModule('dense', projectionLayer(w, prefix, 'dense', c, h * d, oBias));
  }

  /** x [B, T, C] -> [B, T, C] */
  forward(x: Tensor, ctx: ForwardContext): Tensor {
    const { numAttentionHeads: h, numKeyValueHeads: g, headDim: d } = this.cfg;
    const [b, t] = x.shape as [number, number, number];
    const qkv = projection(this, 'query_key_value').forward(x);
    let qIn: Tensor;
    let kIn: Tensor;
    let v: Tensor;
    if (this.cfg.qkvPerHead) {
      // without multi-query: [B, T, H, 3D] viewed per head, then split (modeling_chatglm's non-MQA branch)
      const perHead = qkv.reshape([b, t, h, 3 * d]);
      [qIn, kIn, v] = [0, 1, 2].map((i) => narrowLastDim(perHead, i * d, d)) as [Tensor, Tensor, Tensor];
    } else {
      qIn = narrowLastDim(qkv, 0, h * d).reshape([b, t, h, d]);
      kIn = narrowLastDim(qkv, h * d, g * d).reshape([b, t, g, d]);
      v = narrowLastDim(qkv, (h + g) * d, g * d).reshape([b, t, g, d]);
    }
    const q = glmRotary(this.cfg, qIn, ctx);
    const k = glmRotary(this.cfg, kIn, ctx);
    // The chunks' and rotations' backwards read no values (a one-hot GEMM's input gradient needs only g).
    releaseActivations([qkv, qIn, kIn]);
    const out = cachedAttention(ctx, this.layerIndex, q, k, v);
    return projection(this, 'dense').forward(out.reshape([b, t, h * d]));
  }
}

/** GLMBlock: pre-norm attention and MLP, the residual taken after the norm with
 * apply_residual_connection_post_layernorm. */
class GLMBlock extends Module {
  constructor(
    private readonly cfg: ModelConfig,
    index: number,
    w: WeightSource,
  ) {
    super();
    const prefix = `transformer.encoder.layers.${index}`;
    const norm = (name: string) => new RMSNorm(w(`${prefix}.${name}.weight`, [cfg.hiddenSize]), cfg.rmsNormEps);
    this.registerModule('input_layernorm', norm('input_layernorm'));
    this.registerModule('self_attention', new SelfAttention(cfg, index, w, `${prefix}.self_attention`));
    this.registerModule('post_attention_layernorm', norm('post_attention_layernorm'));
    this.registerModule(
      'mlp',
      new FusedGatedMlp(cfg, w, `${prefix}.mlp`, { gateUp: 'dense_h_to_4h', down: 'dense_4h_to_h' }),
    );
  }

  /** h [B, T, C] -> residual + attn(norm(h)), then + mlp(norm(.)) */
  forward(h: Tensor, ctx: ForwardContext): Tensor {
    const postNorm = this.cfg.residualPostLayernorm === true;
    const normed = (this.child('input_layernorm') as RMSNorm).forward(h);
    const attn = (this.child('self_attention') as SelfAttention).forward(normed, ctx);
    const h1 = add(postNorm ? normed : h, attn);
    releaseActivations([attn]);
    const normed1 = (this.child('post_attention_layernorm') as RMSNorm).forward(h1);
    const mlp = projection(this, 'mlp').forward(normed1);
    const out = add(postNorm ? normed1 : h1, mlp);
    releaseActivations([mlp]);
    return out;
  }
}

/** `transformer`: embedding, encoder (layers + final_layernorm), and output_layer (applied by the causal LM). */
export class ChatGLMModel extends Module implements DecoderStack {
  readonly layers: GLMBlock[] = [];
  gradientCheckpointing = false;
  rng?: Generator;

  constructor(
    readonly cfg: ModelConfig,
    w: WeightSource,
  ) {
    super();
    const { vocabSize: v, hiddenSize: c } = cfg;
    const embedding = this.registerModule('embedding', new Group());
    embedding.add(
      'word_embeddings',
      new Embedding(w('transformer.embedding.word_embeddings.weight', [v, c]), paddingRowOf(cfg)),
    );
    const encoder = this.registerModule('encoder', new Group());
    const layers = encoder.add('layers', new ModuleList());
    for (let i = 0; i < cfg.numHiddenLayers; i++) this.layers.push(layers.append(new GLMBlock(cfg, i, w)));
    encoder.add('final_layernorm', new RMSNorm(w('transformer.encoder.final_layernorm.weight', [c]), cfg.rmsNormEps));
    this.registerModule('output_layer', new Linear(c, v, w('transformer.output_layer.weight', [v, c])));
  }

  get embedTokens(): Embedding {
    return (this.child('embedding') as Module).child('word_embeddings') as Embedding;
  }

  ropeFrequencies(maxPosition: number): RopeFrequencies {
    return glmRopeFrequencies(this.cfg, maxPosition);
  }

  /** inputIds i32 [B, T] -> final hidden states [B, T, C] (after final_layernorm) */
  forward(inputIds: Tensor, ctx: ForwardContext): Tensor {
    const h = forwardLayers(this, this.layers, this.embedTokens.forward(inputIds), ctx);
    return ((this.child('encoder') as Module).child('final_layernorm') as RMSNorm).forward(h);
  }
}

/** LoRA's `all` for ChatGLM (LLaMA-Factory's find_all_linear_modules, output_layer excluded). */
export const CHATGLM_LINEAR_MODULES = ['query_key_value', 'dense', 'dense_h_to_4h', 'dense_4h_to_h'];

/** The causal LM: `transformer`, whose output_layer gives the logits. */
export class ChatGLMForConditionalGeneration extends Module implements CausalLMModule {
  readonly headPath = 'transformer.output_layer';
  readonly linearModuleNames = CHATGLM_LINEAR_MODULES;
  /** Attention reads ctx.paged (cachedAttention): multi-query groups are the KV heads. */
  readonly pagedAttention = true;

  constructor(
    readonly cfg: ModelConfig,
    w: WeightSource,
  ) {
    super();
    if (cfg.tieWordEmbeddings)
      throw new Error('ChatGLM with tie_word_embeddings is not supported: its output_layer is its own matrix');
    this.registerModule('transformer', new ChatGLMModel(cfg, w));
  }

  get model(): ChatGLMModel {
    return this.child('transformer') as ChatGLMModel;
  }

  /** inputIds [B, T] -> logits [B, T, V] */
  forward(inputIds: Tensor, ctx: ForwardContext): Tensor {
    return this.head(this.model.forward(inputIds, ctx));
  }

  /** hidden [..., C] -> logits [..., V] */
  head(hidden: Tensor): Tensor {
    return projection(this.model, 'output_layer').forward(hidden);
  }
}

export const chatglmFamily: ModelFamily = {
  name: 'chatglm',
  architectures: ['ChatGLMModel', 'ChatGLMForConditionalGeneration'],
  build: (config, weights) => new ChatGLMForConditionalGeneration(config, weights),
};
