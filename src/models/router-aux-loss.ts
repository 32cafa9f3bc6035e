/**
 * The MoE load-balancing loss, as transformers' load_balancing_loss_func defines it over the router logits of every
 * sparse layer of one forward pass (L layers, N = B*T tokens, E experts, K = top-k; m_t = 1 for a real token, 0 for
 * padding, all 1 without an attention mask):
 *
 *   p_{l,t} = softmax(router_logits_{l,t})                     (over all E experts, before any renormalisation)
 *   f_e     = sum_{l,t} m_t * [e in topk(p_{l,t})] / (L * sum_t m_t)
 *   P_e     = sum_{l,t} m_t * p_{l,t,e} / (L * sum_t m_t)
 *   aux     = E * sum_e f_e * P_e
 *
 * f is a count (no gradient, as in HF), so d aux / d p_{l,t,e} = E * f_e * m_t / (L * sum_t m_t): linear in p. The
 * blocks report their selections and probabilities here during the forward; `lossTensor` gives coef * aux as a graph
 * node over the final hidden state, and each block's output carries a hook whose backward adds this gradient to its
 * probabilities. The hook reads the upstream gradient the loss node stored, which autograd's reverse topological
 * order has run first (the loss node consumes the final hidden state that every block feeds); and because the
 * hook lives inside the layer, it also works when gradient checkpointing recomputes the layer in the backward.
 */
import { matmul, noGrad, record, Tensor } from '../engine/index.js';

export class RouterStatistics {
  /** Whether the blocks report (HF's output_router_logits; lmforge turns it on for training with moe_aux_loss_coef). */
  enabled: boolean;
  coef: number;
  /** Whether this pass reports (enabled, and not a cached generation step). */
  active = false;
  private mask: Float64Array = new Float64Array(0);
  private maskSum = 0;
  /** Per sparse layer: masked selection counts [E] and masked probability sums [E]. */
  private readonly layers = new Map<number, { counts: Float64Array; probSums: Float64Array }>();
  /** d total / d aux as the loss node's backward received it (0 until then: no aux term in this graph). */
  private upstream = 0;

  constructor(
    readonly numExperts: number,
    coef: number,
    enabled: boolean,
  ) {
    this.coef = coef;
    this.enabled = enabled;
  }

  /** A new forward pass over n tokens; keyMask i32 [n] (1 = token), or none (every token counts). */
  begin(n: number, keyMask: Int32Array | null): void {
    this.active = true;
    this.layers.clear();
    this.upstream = 0;
    this.mask = Float64Array.from({ length: n }, (_, t) => (keyMask ? (keyMask[t] !== 0 ? 1 : 0) : 1));
    this.maskSum = this.mask.reduce((a, b) => a + b, 0);
  }

  /** A pass that does not report (output_router_logits off, or a generation step over the KV cache). */
  skip(): void {
    this.active = false;
    this.layers.clear();
    this.upstream = 0;
  }

  /** Layer `layer`'s routing: probs [N * E] (full softmax), selected [N * K] expert ids. A recompute overwrites. */
  report(layer: number, probs: Float32Array, selected: Int32Array, k: number): void {
    const e = this.numExperts;
    const n = this.mask.length;
    const counts = new Float64Array(e);
    const probSums = new Float64Array(e);
    for (let t = 0; t < n; t++) {
      const m = this.mask[t] as number;
      if (m === 0) continue;
      for (let j = 0; j < k; j++) {
        const x = selected[t * k + j] as number;
        counts[x] = (counts[x] as number) + m;
      }
      for (let x = 0; x < e; x++) probSums[x] = (probSums[x] as number) + m * (probs[t * e + x] as number);
    }
    this.layers.set(layer, { counts, probSums });
  }

  /** f_e (selection fractions) and P_e (mean probabilities), pooled over the reported layers. */
  private pooled(): { f: Float64Array; p: Float64Array; denominator: number } {
    const e = this.numExperts;
    const f = new Float64Array(e);
    const p = new Float64Array(e);
    const denominator = this.layers.size * this.maskSum;
    for (const { counts, probSums } of this.layers.values())
      for (let x = 0; x < e; x++) {
        f[x] = (f[x] as number) + (counts[x] as number) / denominator;
        p[x] = (p[x] as number) + (probSums[x] as number) / denominator;
      }
    return { f, p, denominator };
  }

  /** E * sum_e f_e * P_e of the pass (0 when nothing was reported or no token counted). */
  auxLoss(): number {
    if (this.layers.size === 0 || this.maskSum === 0) return 0;
    const { f, p } = this.pooled();
    let s = 0;
    for (let x = 0; x < this.numExperts; x++) s += (f[x] as number) * (p[x] as number);
    return this.numExperts * s;
  }

  /**
   * coef * aux * weight as a scalar node over `anchor` (the final hidden state or logits; it gets no gradient):
   * its backward records the upstream gradient for the hooks. `weight` is 1 for a mean loss, the counted tokens for
   * a summed one (the trainer divides the sum by the accumulated batch's tokens).
   */
  lossTensor(anchor: Tensor, weight: number): Tensor {
    const out = Tensor.from([this.coef * this.auxLoss() * weight], []);
    record(out, 'routerAuxLoss', [anchor], (g) => {
      this.upstream = g.item() * this.coef * weight;
      return [null];
    });
    return out;
  }

  /** y unchanged, recorded so its backward also gives probs [N, E] the aux gradient of `layer`. */
  hook(y: Tensor, probs: Tensor, layer: number): Tensor {
    const out = y.to(y.dtype);
    const [n, e] = probs.shape as [number, number];
    record(out, 'routerAuxHook', [y, probs], (g, needs) => {
      const dy = needs[0] ? g.detach() : null;
      if (!needs[1] || this.upstream === 0 || this.maskSum === 0 || !this.layers.has(layer)) return [dy, null];
      const { f, denominator } = this.pooled();
      // dp [N, E] = (upstream * E / denominator * m) [N, 1] x f [1, E]
      const column = Float32Array.from(this.mask, (m) => (m * this.upstream * e) / denominator);
      const dProbs = noGrad(() => matmul(Tensor.from(column, [n, 1]), Tensor.from(Float32Array.from(f), [1, e])));
      return [dy, dProbs];
    });
    return out;
  }
}
