/**
 * A float64 Llama-family forward written from HF's definitions (tests only): embeddings, RMSNorm, RoPE
 * (rotate-half, inv_freq given), GQA causal attention with a key mask and an optional sliding window (HF's: query i
 * sees key j when i - j < size, in layers >= fromLayer), optional q/k/v/o biases, Qwen3's q/k norm,
 * SwiGLU MLP, tied or separate head; `gemma`: (1 + w) RMSNorm, GeGLU with the tanh GELU, embeddings times
 * sqrt(hidden_size). It takes the weights by HF name and returns logits [B * T * V].
 */
export interface ReferenceConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  eps: number;
  invFreq: Float32Array;
  qkNorm: boolean;
  tied: boolean;
  slidingWindow?: { size: number; fromLayer: number };
  gemma?: boolean;
  /** Layer l's MLP instead of the dense one (x [N * C] -> [N * C]), or null for the dense one (MoE references). */
  mlp?: (layer: number, x: Float64Array, n: number) => Float64Array | null;
}

type Weights = (name: string) => Float64Array | undefined;

function rmsNorm(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  const c = w.length;
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / c; r++) {
    let ss = 0;
    for (let i = 0; i < c; i++) ss += (x[r * c + i] as number) ** 2;
    const inv = 1 / Math.sqrt(ss / c + eps);
    for (let i = 0; i < c; i++) out[r * c + i] = (w[i] as number) * (x[r * c + i] as number) * inv;
  }
  return out;
}

/** x [N, in] @ W[out, in]^T + b */
function linear(
  x: Float64Array,
  w: Float64Array,
  n: number,
  inF: number,
  outF: number,
  b?: Float64Array,
): Float64Array {
  const y = new Float64Array(n * outF);
  for (let r = 0; r < n; r++)
    for (let o = 0; o < outF; o++) {
      let s = b ? (b[o] as number) : 0;
      for (let i = 0; i < inF; i++) s += (x[r * inF + i] as number) * (w[o * inF + i] as number);
      y[r * outF + o] = s;
    }
  return y;
}

function rope(x: Float64Array, heads: number, d: number, positions: Int32Array, invFreq: Float32Array): void {
  const half = d / 2;
  for (let tok = 0; tok < positions.length; tok++)
    for (let h = 0; h < heads; h++) {
      const base = (tok * heads + h) * d;
      for (let i = 0; i < half; i++) {
        const angle = (positions[tok] as number) * (invFreq[i] as number);
        const [c, s] = [Math.cos(angle), Math.sin(angle)];
        const a = x[base + i] as number;
        const b = x[base + i + half] as number;
        x[base + i] = a * c - b * s;
        x[base + i + half] = b * c + a * s;
      }
    }
}

export function referenceLogits(
  cfg: ReferenceConfig,
  w: Weights,
  ids: Int32Array,
  b: number,
  t: number,
  keyMask?: Int32Array,
): Float64Array {
  const { hiddenSize: c, numHeads: nh, numKvHeads: nkv, headDim: d, intermediateSize: f, vocabSize: v } = cfg;
  const n = b * t;
  const must = (name: string) => {
    const x = w(name);
    if (!x) throw new Error(`reference: missing ${name}`);
    return x;
  };
  const emb = must('model.embed_tokens.weight');
  let h = new Float64Array(n * c);
  for (let i = 0; i < n; i++) h.set(emb.subarray((ids[i] as number) * c, ((ids[i] as number) + 1) * c), i * c);
  if (cfg.gemma) h = h.map((x) => x * Math.fround(Math.sqrt(c)));
  const norm = (x: Float64Array, weight: Float64Array) =>
    rmsNorm(x, cfg.gemma ? weight.map((wv) => 1 + wv) : weight, cfg.eps);
  const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  const positions = Int32Array.from({ length: n }, (_, i) => i % t);
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    const x = norm(h, must(`${p}.input_layernorm.weight`));
    const q = linear(x, must(`${p}.self_attn.q_proj.weight`), n, c, nh * d, w(`${p}.self_attn.q_proj.bias`));
    const k = linear(x, must(`${p}.self_attn.k_proj.weight`), n, c, nkv * d, w(`${p}.self_attn.k_proj.bias`));
    const vv = linear(x, must(`${p}.self_attn.v_proj.weight`), n, c, nkv * d, w(`${p}.self_attn.v_proj.bias`));
    const qn = cfg.qkNorm ? rmsNorm(q, must(`${p}.self_attn.q_norm.weight`), cfg.eps) : q;
    const kn = cfg.qkNorm ? rmsNorm(k, must(`${p}.self_attn.k_norm.weight`), cfg.eps) : k;
    rope(qn, nh, d, positions, cfg.invFreq);
    rope(kn, nkv, d, positions, cfg.invFreq);
    const window = cfg.slidingWindow && l >= cfg.slidingWindow.fromLayer ? cfg.slidingWindow.size : Infinity;
    const attn = new Float64Array(n * nh * d);
    for (let bi = 0; bi < b; bi++)
      for (let hh = 0; hh < nh; hh++) {
        const kvh = Math.floor(hh / (nh / nkv));
        for (let i = 0; i < t; i++) {
          const scores: number[] = [];
          for (let j = 0; j <= i; j++) {
            if ((keyMask && keyMask[bi * t + j] === 0) || i - j >= window) {
              scores.push(Number.NEGATIVE_INFINITY);
              continue;
            }
            let s = 0;
            for (let e = 0; e < d; e++)
              s +=
                (qn[((bi * t + i) * nh + hh) * d + e] as number) * (kn[((bi * t + j) * nkv + kvh) * d + e] as number);
            scores.push(s / Math.sqrt(d));
          }
          const m = Math.max(...scores);
          const ex = scores.map((s) => (s === Number.NEGATIVE_INFINITY ? 0 : Math.exp(s - m)));
          const z = ex.reduce((a2, b2) => a2 + b2, 0);
          for (let j = 0; j <= i; j++)
            for (let e = 0; e < d; e++)
              attn[((bi * t + i) * nh + hh) * d + e] =
                (attn[((bi * t + i) * nh + hh) * d + e] as number) +
                ((ex[j] as number) / z) * (vv[((bi * t + j) * nkv + kvh) * d + e] as number);
        }
      }
    const o = linear(attn, must(`${p}.self_attn.o_proj.weight`), n, nh * d, c, w(`${p}.self_attn.o_proj.bias`));
    h = h.map((val, i) => val + (o[i] as number));
    const x2 = norm(h, must(`${p}.post_attention_layernorm.weight`));
    const replaced = cfg.mlp?.(l, x2, n);
    if (replaced) {
      h = h.map((val, i) => val + (replaced[i] as number));
      continue;
    }
    const g = linear(x2, must(`${p}.mlp.gate_proj.weight`), n, c, f, w(`${p}.mlp.gate_proj.bias`));
    const u = linear(x2, must(`${p}.mlp.up_proj.weight`), n, c, f, w(`${p}.mlp.up_proj.bias`));
    const act = g.map((gv, i) => (cfg.gemma ? gelu(gv) : gv / (1 + Math.exp(-gv))) * (u[i] as number));
    const down = linear(act, must(`${p}.mlp.down_proj.weight`), n, f, c, w(`${p}.mlp.down_proj.bias`));
    h = h.map((val, i) => val + (down[i] as number));
  }
  const hn = norm(h, must('model.norm.weight'));
  return linear(hn, cfg.tied ? emb : must('lm_head.weight'), n, c, v);
}
