/**
 * A float64 sparse-MoE block and load-balancing loss written from transformers' Mixtral / Qwen2-MoE / Qwen3-MoE
 * definitions (tests only), plugged into referenceLogits through its `mlp` hook. `frozen` fixes each layer's top-k
 * choice (finite differences differentiate the smooth piece the current choice lies on, as autograd does).
 */
import type { MoeConfig } from '../../src/io/moe-config.js';

type Weights = (name: string) => Float64Array | undefined;

export interface MoeRouting {
  /** Per layer: the full-softmax probabilities [N * E] and the selected experts [N * K] of the last pass. */
  probs: Map<number, Float64Array>;
  selected: Map<number, Int32Array>;
  /** Reuse these selections instead of taking the top-k. */
  frozen?: Map<number, Int32Array>;
}

function matVec(x: Float64Array, xOff: number, w: Float64Array, inF: number, outF: number): Float64Array {
  const y = new Float64Array(outF);
  for (let o = 0; o < outF; o++) {
    let s = 0;
    for (let i = 0; i < inF; i++) s += (x[xOff + i] as number) * (w[o * inF + i] as number);
    y[o] = s;
  }
  return y;
}

function swigluMlp(
  x: Float64Array,
  off: number,
  c: number,
  f: number,
  g: Float64Array,
  u: Float64Array,
  d: Float64Array,
) {
  const gv = matVec(x, off, g, c, f);
  const uv = matVec(x, off, u, c, f);
  const act = gv.map((v, i) => (v / (1 + Math.exp(-v))) * (uv[i] as number));
  return matVec(act, 0, d, f, c);
}

/** The `mlp` hook of ReferenceConfig for an MoE config. */
export function moeReferenceMlp(moe: MoeConfig, c: number, w: Weights, routing: MoeRouting) {
  const must = (name: string) => {
    const x = w(name);
    if (!x) throw new Error(`reference: missing ${name}`);
    return x;
  };
  return (layer: number, x: Float64Array, n: number): Float64Array | null => {
    if (!moe.sparseLayers[layer]) return null;
    const p = `model.layers.${layer}.${moe.blockName}`;
    const { numExperts: e, topK: k } = moe;
    const gate = must(`${p}.gate.weight`);
    const probs = new Float64Array(n * e);
    const selected = new Int32Array(n * k);
    const out = new Float64Array(n * c);
    for (let t = 0; t < n; t++) {
      const logits = matVec(x, t * c, gate, c, e);
      const m = Math.max(...logits);
      const ex = logits.map((l) => Math.exp(l - m));
      const z = ex.reduce((a, b) => a + b, 0);
      for (let j = 0; j < e; j++) probs[t * e + j] = (ex[j] as number) / z;
      const row = probs.subarray(t * e, (t + 1) * e);
      const chosen =
        routing.frozen?.get(layer)?.subarray(t * k, (t + 1) * k) ??
        Int32Array.from(
          Array.from({ length: e }, (_, j) => j)
            .sort((a, b) => (row[b] as number) - (row[a] as number) || a - b)
            .slice(0, k),
        );
      selected.set(chosen, t * k);
      const total = [...chosen].reduce((s, j) => s + (row[j] as number), 0);
      for (const j of chosen) {
        const weight = moe.normTopkProb ? (row[j] as number) / total : (row[j] as number);
        const { gate: gn, up, down } = moe.expertNames;
        const y = swigluMlp(
          x,
          t * c,
          c,
          moe.expertIntermediateSize,
          must(`${p}.experts.${j}.${gn}.weight`),
          must(`${p}.experts.${j}.${up}.weight`),
          must(`${p}.experts.${j}.${down}.weight`),
        );
        for (let i = 0; i < c; i++) out[t * c + i] = (out[t * c + i] as number) + weight * (y[i] as number);
      }
      if (moe.sharedExpertIntermediateSize > 0) {
        const y = swigluMlp(
          x,
          t * c,
          c,
          moe.sharedExpertIntermediateSize,
          must(`${p}.shared_expert.gate_proj.weight`),
          must(`${p}.shared_expert.up_proj.weight`),
          must(`${p}.shared_expert.down_proj.weight`),
        );
        const s = 1 / (1 + Math.exp(-(matVec(x, t * c, must(`${p}.shared_expert_gate.weight`), c, 1)[0] as number)));
        for (let i = 0; i < c; i++) out[t * c + i] = (out[t * c + i] as number) + s * (y[i] as number);
      }
    }
    routing.probs.set(layer, probs);
    routing.selected.set(layer, selected);
    return out;
  };
}

/** HF's load_balancing_loss_func over the layers of `routing` (mask [N]: 1 = token; all ones when absent). */
export function referenceAuxLoss(moe: MoeConfig, routing: MoeRouting, n: number, mask?: Int32Array): number {
  const { numExperts: e, topK: k } = moe;
  const layers = [...routing.probs.keys()];
  let tokens = 0;
  for (let t = 0; t < n; t++) tokens += mask ? (mask[t] ? 1 : 0) : 1;
  const f = new Float64Array(e);
  const pm = new Float64Array(e);
  for (const l of layers) {
    const probs = routing.probs.get(l) as Float64Array;
    const sel = routing.selected.get(l) as Int32Array;
    for (let t = 0; t < n; t++) {
      if (mask && !mask[t]) continue;
      for (let j = 0; j < k; j++) {
        const x = sel[t * k + j] as number;
        f[x] = (f[x] as number) + 1 / (layers.length * tokens);
      }
      for (let j = 0; j < e; j++) pm[j] = (pm[j] as number) + (probs[t * e + j] as number) / (layers.length * tokens);
    }
  }
  let s = 0;
  for (let j = 0; j < e; j++) s += (f[j] as number) * (pm[j] as number);
  return e * s;
}
