/**
 * The sparse mixture-of-experts families: Mixtral (MixtralForCausalLM), Qwen2-MoE (Qwen2MoeForCausalLM) and Qwen3-MoE
 * (Qwen3MoeForCausalLM), from transformers' modeling_mixtral / modeling_qwen2_moe / modeling_qwen3_moe. Attention,
 * norms and embeddings are the Llama decoder's (llama.ts); each sparse layer's MLP is a SparseMoeBlock:
 *
 *   p = softmax(gate(x))                       x [N, C] (N = B*T tokens), router `gate` [E, C], p [N, E]
 *   S_t = topk(p_t, K)                         K = num_experts_per_tok
 *   w_{t,e} = p_{t,e}, or p_{t,e} / sum_{S_t} p (norm_topk_prob; Mixtral always) = softmax over S_t of the logits
 *   y_t = sum_{e in S_t} w_{t,e} * expert_e(x_t)   [+ sigmoid(shared_expert_gate(x_t)) * shared_expert(x_t)]
 *
 * The experts run grouped: tokens are gathered by expert (gatherRows), each expert is one GEMM chain over its rows
 * [n_e, C] -> [n_e, F] -> [n_e, C], and the weighted outputs are index-added back (scatterAddRows), forward and
 * backward in native kernels. Module and parameter paths are HF's, so LoRA's `all` finds every expert projection and
 * the router (an nn.Linear in HF too, which LLaMA-Factory's find_all_linear_modules includes).
 * Shapes: B batch, T tokens, C hidden, E experts, K top-k, F expert intermediate.
 */
import {
  add,
  gatherRows,
  isGradEnabled,
  matmul,
  mul,
  scatterAddRows,
  sigmoid,
  softmaxRows,
  swiglu,
  Tensor,
} from '../engine/index.js';
import type { ModelConfig } from '../io/model-config.js';
import type { MoeConfig } from '../io/moe-config.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { type CausalLMModule, type ModelFamily, projectionLayer, type WeightSource } from './family.js';
import { type DecoderParts, LLAMA_PARTS, LlamaForCausalLM, ModuleList } from './llama.js';
import { RouterStatistics } from './router-aux-loss.js';

interface Projection {
  forward(x: Tensor): Tensor;
}

/** A SwiGLU MLP of width f with the given projection names: an expert (w1/w3/w2 or gate/up/down) or a shared one. */
class ExpertMlp extends Module {
  constructor(
    w: WeightSource,
    prefix: string,
    hidden: number,
    f: number,
    private readonly names: MoeConfig['expertNames'],
  ) {
    super();
    this.registerModule(names.gate, projectionLayer(w, prefix, names.gate, f, hidden, false));
    this.registerModule(names.up, projectionLayer(w, prefix, names.up, f, hidden, false));
    this.registerModule(names.down, projectionLayer(w, prefix, names.down, hidden, f, false));
  }

  private proj(name: string): Projection {
    return this.child(name) as unknown as Projection;
  }

  /** x [n, C] -> down(silu(gate(x)) * up(x)) [n, C] */
  forward(x: Tensor): Tensor {
    const { gate, up, down } = this.names;
    return this.proj(down).forward(swiglu(this.proj(gate).forward(x), this.proj(up).forward(x)));
  }
}

/** The top-k experts of each row of p [N * E], best first (ties to the lower index, as torch.topk on CPU). */
function topK(p: Float32Array, n: number, e: number, k: number): Int32Array {
  const selected = new Int32Array(n * k);
  const order = Array.from({ length: e }, (_, i) => i);
  for (let t = 0; t < n; t++) {
    const row = p.subarray(t * e, (t + 1) * e);
    order.sort((a, b) => (row[b] as number) - (row[a] as number) || a - b);
    for (let j = 0; j < k; j++) selected[t * k + j] = order[j] as number;
  }
  return selected;
}

/** [n, 1] -> [n, c] (a GEMM with a ones row, so the gradient sums back). */
function broadcastColumn(column: Tensor, c: number): Tensor {
  return matmul(column, Tensor.from(new Float32Array(c).fill(1), [1, c]));
}

export class SparseMoeBlock extends Module {
  constructor(
    readonly cfg: ModelConfig,
    readonly moe: MoeConfig,
    readonly layerIndex: number,
    w: WeightSource,
    prefix: string,
    private readonly stats: RouterStatistics,
  ) {
    super();
    const c = cfg.hiddenSize;
    // The router and the shared expert's gate are read unquantized (bitsandbytes users skip the router too).
    this.registerModule('gate', new Linear(c, moe.numExperts, w(`${prefix}.gate.weight`, [moe.numExperts, c])));
    const experts = this.registerModule('experts', new ModuleList());
    for (let j = 0; j < moe.numExperts; j++)
      experts.append(new ExpertMlp(w, `${prefix}.experts.${j}`, c, moe.expertIntermediateSize, moe.expertNames));
    const s = moe.sharedExpertIntermediateSize;
    if (s > 0) {
      const names = { gate: 'gate_proj', up: 'up_proj', down: 'down_proj' };
      this.registerModule('shared_expert', new ExpertMlp(w, `${prefix}.shared_expert`, c, s, names));
      this.registerModule('shared_expert_gate', new Linear(c, 1, w(`${prefix}.shared_expert_gate.weight`, [1, c])));
    }
  }

  private proj(name: string): Projection {
    return this.child(name) as unknown as Projection;
  }

  /** x [B, T, C] -> [B, T, C] */
  forward(x: Tensor): Tensor {
    const { numExperts: e, topK: k, normTopkProb } = this.moe;
    const c = this.cfg.hiddenSize;
    const n = x.numel / c;
    const xf = x.reshape([n, c]);
    const logits = this.proj('gate').forward(xf); // [N, E]
    const probs = softmaxRows(logits);
    const p = probs.toFloat32Array();
    const selected = topK(p, n, e, k);
    // Routing weights [N, E]: the full softmax, or the softmax over each row's selected logits (renormalised top-k).
    let weights = probs;
    if (normTopkProb) {
      const keep = new Float32Array(n * e).fill(Number.NEGATIVE_INFINITY);
      for (let i = 0; i < n * k; i++) keep[Math.floor(i / k) * e + (selected[i] as number)] = 0;
      weights = softmaxRows(add(logits, Tensor.from(keep, [n, e])));
    }
    const weightRows = weights.reshape([n * e, 1]);
    // Each expert's tokens in ascending order (HF's top_x order), as one counting sort over the selections.
    const counts = new Int32Array(e + 1);
    for (const x0 of selected) counts[x0 + 1] = (counts[x0 + 1] as number) + 1;
    for (let x0 = 0; x0 < e; x0++) counts[x0 + 1] = (counts[x0 + 1] as number) + (counts[x0] as number);
    const fill = counts.slice(0, e);
    const tokens = new Int32Array(n * k);
    for (let i = 0; i < n * k; i++) {
      const x0 = selected[i] as number;
      tokens[fill[x0] as number] = Math.floor(i / k);
      fill[x0] = (fill[x0] as number) + 1;
    }
    const experts = this.child('experts') as ModuleList;
    const parts: Tensor[] = [];
    const rows: Tensor[] = [];
    for (let j = 0; j < e; j++) {
      const from = counts[j] as number;
      const to = counts[j + 1] as number;
      if (to === from) continue; // an expert no token chose costs nothing (HF skips it too)
      const mine = tokens.subarray(from, to);
      const tokenRows = Tensor.from(mine, [to - from], 'i32');
      const weightIds = Tensor.from(
        Int32Array.from(mine, (t) => t * e + j),
        [to - from],
        'i32',
      );
      const out = (experts.child(String(j)) as ExpertMlp).forward(gatherRows(xf, tokenRows)); // [n_e, C]
      parts.push(mul(out, broadcastColumn(gatherRows(weightRows, weightIds), c)));
      rows.push(tokenRows);
    }
    let y = scatterAddRows(parts, rows, n);
    if (this.moe.sharedExpertIntermediateSize > 0) {
      const shared = this.proj('shared_expert').forward(xf);
      const gate = sigmoid(this.proj('shared_expert_gate').forward(xf)); // [N, 1]
      y = add(y, mul(shared, broadcastColumn(gate, c)));
    }
    if (this.stats.active) {
      this.stats.report(this.layerIndex, p, selected, k);
      if (isGradEnabled() && probs.requiresGrad) y = this.stats.hook(y, probs, this.layerIndex);
    }
    return y.reshape(x.shape);
  }
}

/** The MoE causal LM: the Llama decoder with sparse blocks, and the router statistics of its last forward. */
export class MoeForCausalLM extends LlamaForCausalLM {
  constructor(
    cfg: ModelConfig,
    w: WeightSource,
    parts: DecoderParts,
    readonly routerStatistics: RouterStatistics,
  ) {
    super(cfg, w, parts);
  }

  /**
   * router_aux_loss_coef * the load-balancing loss of the last forward (router-aux-loss.ts) as a node over `anchor`
   * (that forward's final hidden state or logits), or null when output_router_logits is off.
   */
  routerAuxLoss(anchor: Tensor, weight: number): Tensor | null {
    return this.routerStatistics.active ? this.routerStatistics.lossTensor(anchor, weight) : null;
  }
}

function buildMoe(cfg: ModelConfig, w: WeightSource): CausalLMModule {
  const moe = cfg.moe;
  if (!moe) throw new Error(`${cfg.architecture}: the config has no mixture-of-experts settings`);
  const stats = new RouterStatistics(moe.numExperts, moe.routerAuxLossCoef, moe.outputRouterLogits);
  const parts: DecoderParts = {
    ...LLAMA_PARTS,
    mlpName: moe.blockName,
    mlp: (c, weights, prefix, layer) =>
      moe.sparseLayers[layer]
        ? new SparseMoeBlock(c, moe, layer, weights, prefix, stats)
        : LLAMA_PARTS.mlp(c, weights, prefix, layer),
    beginForward: (inputIds, ctx) => {
      if (!stats.enabled || ctx.cache) return stats.skip();
      stats.begin(inputIds.numel, ctx.keyMask ? ctx.keyMask.toInt32Array() : null);
    },
  };
  return new MoeForCausalLM(cfg, w, parts, stats);
}

export const moeFamily: ModelFamily = {
  name: 'moe',
  architectures: ['MixtralForCausalLM', 'Qwen2MoeForCausalLM', 'Qwen3MoeForCausalLM'],
  build: buildMoe,
};

/**
 * LLaMA-Factory's configure_moe for a trainable model: with moe_aux_loss_coef set, router_aux_loss_coef becomes it and
 * output_router_logits is turned on, so the load-balancing loss joins the training loss. Without it the config's own
 * output_router_logits decides (false in the released Mixtral and Qwen MoE configs). Dense models are unchanged.
 * Returns whether the model adds the aux loss.
 */
export function configureMoe(module: CausalLMModule, moeAuxLossCoef: number | null | undefined): boolean {
  if (!(module instanceof MoeForCausalLM)) return false;
  if (moeAuxLossCoef !== null && moeAuxLossCoef !== undefined) {
    module.routerStatistics.coef = moeAuxLossCoef;
    module.routerStatistics.enabled = true;
  }
  return module.routerStatistics.enabled;
}
