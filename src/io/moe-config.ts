/**
 * The sparse mixture-of-experts keys of config.json (Mixtral, Qwen2-MoE, Qwen3-MoE) as a typed MoeConfig, and the
 * parameters an MoE layer holds. Defaults are those of transformers' MixtralConfig / Qwen2MoeConfig / Qwen3MoeConfig:
 * - Mixtral: `num_local_experts` (8) experts of `intermediate_size` at `block_sparse_moe.experts.{j}.{w1,w2,w3}`, the
 *   router `block_sparse_moe.gate`, top `num_experts_per_tok` (2) with the top-k probabilities renormalised; every
 *   layer is sparse.
 * - Qwen2-MoE: `num_experts` (60) experts of `moe_intermediate_size` (1408) at `mlp.experts.{j}.{gate,up,down}_proj`,
 *   the router `mlp.gate`, top 4, `norm_topk_prob` (false), a shared expert of `shared_expert_intermediate_size`
 *   (5632) scaled by sigmoid(`mlp.shared_expert_gate`); layer i is sparse unless i is in `mlp_only_layers` or
 *   (i + 1) % `decoder_sparse_step` != 0 — those keep a dense MLP of `intermediate_size`.
 * - Qwen3-MoE: Qwen2-MoE without the shared expert (128 experts of 768, top 8).
 * All three: `router_aux_loss_coef` (0.001) times the load-balancing loss joins the loss when `output_router_logits`.
 */
import { FormatError } from './errors.js';

export type MoeArchitecture = 'MixtralForCausalLM' | 'Qwen2MoeForCausalLM' | 'Qwen3MoeForCausalLM';
export const MOE_ARCHITECTURES: readonly MoeArchitecture[] = [
  'MixtralForCausalLM',
  'Qwen2MoeForCausalLM',
  'Qwen3MoeForCausalLM',
];

export function isMoeArchitecture(a: string): a is MoeArchitecture {
  return (MOE_ARCHITECTURES as readonly string[]).includes(a);
}

export interface MoeConfig {
  readonly numExperts: number;
  readonly topK: number;
  /** Each routed expert's MLP width. */
  readonly expertIntermediateSize: number;
  /** Renormalise the top-k probabilities to sum to 1 (Mixtral always). */
  readonly normTopkProb: boolean;
  /** The shared expert's MLP width (Qwen2-MoE), or 0 for none. */
  readonly sharedExpertIntermediateSize: number;
  /** Whether layer i has the sparse block (else a dense MLP of intermediate_size). */
  readonly sparseLayers: readonly boolean[];
  readonly routerAuxLossCoef: number;
  /** Add router_aux_loss_coef x the load-balancing loss to the loss (HF's output_router_logits). */
  readonly outputRouterLogits: boolean;
  /** Where the block lives in a layer (`block_sparse_moe` / `mlp`) and its experts' projection names. */
  readonly blockName: 'block_sparse_moe' | 'mlp';
  readonly expertNames: { readonly gate: string; readonly up: string; readonly down: string };
}

function intKey(file: string, raw: Record<string, unknown>, key: string, fallback: number, min: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
    throw new FormatError(file, key, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function boolKey(file: string, raw: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'boolean') throw new FormatError(file, key, `must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** The MoE settings of a config.json of an MoE architecture. */
export function parseMoeConfig(
  arch: MoeArchitecture,
  raw: Record<string, unknown>,
  numHiddenLayers: number,
  intermediateSize: number,
  file: string,
): MoeConfig {
  const mixtral = arch === 'MixtralForCausalLM';
  const qwen3 = arch === 'Qwen3MoeForCausalLM';
  const numExperts = mixtral
    ? intKey(file, raw, 'num_local_experts', 8, 1)
    : intKey(file, raw, 'num_experts', qwen3 ? 128 : 60, 1);
  const topK = intKey(file, raw, 'num_experts_per_tok', mixtral ? 2 : qwen3 ? 8 : 4, 1);
  if (topK > numExperts)
    throw new FormatError(file, 'num_experts_per_tok', `${topK} is more than the ${numExperts} experts`);
  const jitter = raw.router_jitter_noise;
  if (typeof jitter === 'number' && jitter !== 0)
    throw new FormatError(
      file,
      'router_jitter_noise',
      `${jitter} is not supported (lmforge routes without jitter); set it to 0`,
    );
  const coef = raw.router_aux_loss_coef ?? 0.001;
  if (typeof coef !== 'number' || !Number.isFinite(coef))
    throw new FormatError(file, 'router_aux_loss_coef', `must be a number, got ${JSON.stringify(coef)}`);
  let sparseLayers = Array.from({ length: numHiddenLayers }, () => true);
  if (!mixtral) {
    const step = intKey(file, raw, 'decoder_sparse_step', 1, 1);
    const only = raw.mlp_only_layers ?? [];
    if (!Array.isArray(only) || !only.every((i) => Number.isSafeInteger(i)))
      throw new FormatError(file, 'mlp_only_layers', `must be a list of layer indices, got ${JSON.stringify(only)}`);
    sparseLayers = sparseLayers.map((_, i) => !(only as number[]).includes(i) && (i + 1) % step === 0);
  }
  return Object.freeze({
    numExperts,
    topK,
    expertIntermediateSize: mixtral
      ? intermediateSize
      : intKey(file, raw, 'moe_intermediate_size', qwen3 ? 768 : 1408, 1),
    normTopkProb: mixtral ? true : boolKey(file, raw, 'norm_topk_prob', false),
    sharedExpertIntermediateSize:
      arch === 'Qwen2MoeForCausalLM' ? intKey(file, raw, 'shared_expert_intermediate_size', 5632, 0) : 0,
    sparseLayers: Object.freeze(sparseLayers),
    routerAuxLossCoef: coef,
    outputRouterLogits: boolKey(file, raw, 'output_router_logits', false),
    blockName: mixtral ? 'block_sparse_moe' : 'mlp',
    expertNames: mixtral
      ? { gate: 'w1', up: 'w3', down: 'w2' }
      : { gate: 'gate_proj', up: 'up_proj', down: 'down_proj' },
  });
}

/** The parameters of layer i's sparse block, HF name -> shape (C hidden): router, experts, shared expert. */
export function moeBlockParameters(moe: MoeConfig, layer: number, hidden: number, out: Map<string, number[]>): void {
  const p = `model.layers.${layer}.${moe.blockName}`;
  out.set(`${p}.gate.weight`, [moe.numExperts, hidden]);
  const f = moe.expertIntermediateSize;
  const { gate, up, down } = moe.expertNames;
  for (let j = 0; j < moe.numExperts; j++) {
    out.set(`${p}.experts.${j}.${gate}.weight`, [f, hidden]);
    out.set(`${p}.experts.${j}.${up}.weight`, [f, hidden]);
    out.set(`${p}.experts.${j}.${down}.weight`, [hidden, f]);
  }
  const s = moe.sharedExpertIntermediateSize;
  if (s > 0) {
    out.set(`${p}.shared_expert.gate_proj.weight`, [s, hidden]);
    out.set(`${p}.shared_expert.up_proj.weight`, [s, hidden]);
    out.set(`${p}.shared_expert.down_proj.weight`, [hidden, s]);
    out.set(`${p}.shared_expert_gate.weight`, [1, hidden]);
  }
}
