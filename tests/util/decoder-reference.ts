/**
 * A float64 decoder forward for the families beyond Llama (tests only), written from HF's modeling files: Gemma 2 /
 * Gemma 3 (sandwich norms, (1 + w) norms, query_pre_attn_scalar, attention and final soft-capping, per-layer sliding
 * windows and RoPE tables, q/k norms), Phi-3 (partial rotary, LongRoPE's attention factor), InternLM2 and Baichuan
 * (ALiBi instead of RoPE, NormHead), and the Llama family itself through tests/util/llama-reference.ts. It reads weights by Llama's HF names (`model.layers.{l}.self_attn.q_proj.weight`,
 * ...): a test of a fused layout gives a `weights` that slices its own checkpoint into these, which is where the
 * test states how the family packs its projections. Returns logits [B * T * V].
 */
export interface DecoderReference {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  eps: number;
  /** Gemma: RMSNorm scaled by (1 + w). */
  plusOneNorm?: boolean;
  /** Gemma: embeddings times this (fround(sqrt(C))). */
  embedScale?: number;
  /** Gemma 2 / 3: post_attention_layernorm on the attention output, pre/post_feedforward_layernorm around the MLP. */
  sandwichNorms?: boolean;
  qkNorm?: boolean;
  /** Multiplies q . k (default 1 / sqrt(D)). */
  attentionScale?: number;
  attnSoftcap?: number;
  finalSoftcap?: number;
  /** Keys a query of layer l sees (itself included); Infinity = global. */
  layerWindow?: (l: number) => number;
  /** The RoPE table of layer l, or null for no RoPE (ALiBi). */
  layerRope: (l: number) => { invFreq: Float32Array; attentionFactor: number } | null;
  /** Dims of each head that rotate (partial_rotary_factor); default D. */
  rotaryDim?: number;
  /** ALiBi: score += slope[h] * j for key j. */
  alibiSlopes?: readonly number[];
  activation: 'silu' | 'gelu_tanh';
  /** Baichuan 2: the head's rows divided by their L2 norm. */
  normHead?: boolean;
  /** The head is the embedding matrix (no lm_head.weight). */
  tied?: boolean;
  /** Layer l's MLP instead of the dense one (x [N * C] -> [N * C]), or null for the dense one (MoE references). */
  mlp?: (layer: number, x: Float64Array, n: number) => Float64Array | null;
}

type Weights = (name: string) => Float64Array | undefined;

function rmsNorm(x: Float64Array, w: Float64Array, eps: number, plusOne: boolean): Float64Array {
  const c = w.length;
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / c; r++) {
    let ss = 0;
    for (let i = 0; i < c; i++) ss += (x[r * c + i] as number) ** 2;
    const inv = 1 / Math.sqrt(ss / c + eps);
    for (let i = 0; i < c; i++)
      out[r * c + i] = ((plusOne ? 1 : 0) + (w[i] as number)) * (x[r * c + i] as number) * inv;
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

/** Rotate-half RoPE on the first `rot` dims of each head, cos/sin times the attention factor. */
function rope(
  x: Float64Array,
  heads: number,
  d: number,
  rot: number,
  positions: Int32Array,
  table: { invFreq: Float32Array; attentionFactor: number },
): void {
  const half = rot / 2;
  for (let tok = 0; tok < positions.length; tok++)
    for (let h = 0; h < heads; h++) {
      const base = (tok * heads + h) * d;
      for (let i = 0; i < half; i++) {
        const angle = (positions[tok] as number) * (table.invFreq[i] as number);
        const c = Math.cos(angle) * table.attentionFactor;
        const s = Math.sin(angle) * table.attentionFactor;
        const a = x[base + i] as number;
        const b = x[base + i + half] as number;
        x[base + i] = a * c - b * s;
        x[base + i + half] = b * c + a * s;
      }
    }
}

export function decoderReferenceLogits(
  cfg: DecoderReference,
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
  const plusOne = cfg.plusOneNorm ?? false;
  const norm = (x: Float64Array, weight: Float64Array) => rmsNorm(x, weight, cfg.eps, plusOne);
  const emb = must('model.embed_tokens.weight');
  let h = new Float64Array(n * c);
  for (let i = 0; i < n; i++) h.set(emb.subarray((ids[i] as number) * c, ((ids[i] as number) + 1) * c), i * c);
  if (cfg.embedScale !== undefined) h = h.map((x) => x * (cfg.embedScale as number));
  const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  const positions = Int32Array.from({ length: n }, (_, i) => i % t);
  const scale = cfg.attentionScale ?? 1 / Math.sqrt(d);
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    const x = norm(h, must(`${p}.input_layernorm.weight`));
    const q = linear(x, must(`${p}.self_attn.q_proj.weight`), n, c, nh * d, w(`${p}.self_attn.q_proj.bias`));
    const k = linear(x, must(`${p}.self_attn.k_proj.weight`), n, c, nkv * d, w(`${p}.self_attn.k_proj.bias`));
    const vv = linear(x, must(`${p}.self_attn.v_proj.weight`), n, c, nkv * d, w(`${p}.self_attn.v_proj.bias`));
    const qn = cfg.qkNorm ? norm(q, must(`${p}.self_attn.q_norm.weight`)) : q;
    const kn = cfg.qkNorm ? norm(k, must(`${p}.self_attn.k_norm.weight`)) : k;
    const table = cfg.layerRope(l);
    if (table) {
      rope(qn, nh, d, cfg.rotaryDim ?? d, positions, table);
      rope(kn, nkv, d, cfg.rotaryDim ?? d, positions, table);
    }
    const window = cfg.layerWindow ? cfg.layerWindow(l) : Infinity;
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
            s *= scale;
            if (cfg.attnSoftcap !== undefined) s = cfg.attnSoftcap * Math.tanh(s / cfg.attnSoftcap);
            if (cfg.alibiSlopes) s += (cfg.alibiSlopes[hh] as number) * j;
            scores.push(s);
          }
          const m = Math.max(...scores);
          const ex = scores.map((s) => (s === Number.NEGATIVE_INFINITY ? 0 : Math.exp(s - m)));
          const z = ex.reduce((a2, b2) => a2 + b2, 0);
          if (z === 0) continue;
          for (let j = 0; j <= i; j++)
            for (let e = 0; e < d; e++)
              attn[((bi * t + i) * nh + hh) * d + e] =
                (attn[((bi * t + i) * nh + hh) * d + e] as number) +
                ((ex[j] as number) / z) * (vv[((bi * t + j) * nkv + kvh) * d + e] as number);
        }
      }
    let o = linear(attn, must(`${p}.self_attn.o_proj.weight`), n, nh * d, c, w(`${p}.self_attn.o_proj.bias`));
    if (cfg.sandwichNorms) o = norm(o, must(`${p}.post_attention_layernorm.weight`));
    h = h.map((val, i) => val + (o[i] as number));
    const x2 = norm(h, must(`${p}.${cfg.sandwichNorms ? 'pre_feedforward' : 'post_attention'}_layernorm.weight`));
    const denseMlp = () => {
      const g = linear(x2, must(`${p}.mlp.gate_proj.weight`), n, c, f, w(`${p}.mlp.gate_proj.bias`));
      const u = linear(x2, must(`${p}.mlp.up_proj.weight`), n, c, f, w(`${p}.mlp.up_proj.bias`));
      const act = g.map(
        (gv, i) => (cfg.activation === 'gelu_tanh' ? gelu(gv) : gv / (1 + Math.exp(-gv))) * (u[i] as number),
      );
      return linear(act, must(`${p}.mlp.down_proj.weight`), n, f, c, w(`${p}.mlp.down_proj.bias`));
    };
    let down = cfg.mlp?.(l, x2, n) ?? denseMlp();
    if (cfg.sandwichNorms) down = norm(down, must(`${p}.post_feedforward_layernorm.weight`));
    h = h.map((val, i) => val + (down[i] as number));
  }
  const hn = norm(h, must('model.norm.weight'));
  let head = cfg.tied ? emb : must('lm_head.weight');
  if (cfg.normHead) {
    head = head.slice();
    for (let r = 0; r < v; r++) {
      let ss = 0;
      for (let i = 0; i < c; i++) ss += (head[r * c + i] as number) ** 2;
      const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
      for (let i = 0; i < c; i++) head[r * c + i] = (head[r * c + i] as number) * inv;
    }
  }
  const logits = linear(hn, head, n, c, v);
  const cap = cfg.finalSoftcap;
  return cap === undefined ? logits : logits.map((z) => cap * Math.tanh(z / cap));
}
