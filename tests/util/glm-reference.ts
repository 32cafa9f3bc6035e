/**
 * An independent float64 forward of GLM decoders, written from the published architectures (THUDM's
 * modeling_chatglm.py for ChatGLM2/3, transformers' models/glm for GLM-4), for the parity tests. Plain loops, no
 * engine code: embeddings -> per layer RMSNorm, q/k/v (+ biases), GLM rotary on the first R dims of each head in
 * interleaved pairs (2i, 2i+1) with inv_freq_i = 1 / base^(2i / R), causal grouped-query attention (head j reads
 * group floor(j / (H / G))), output projection, residual; RMSNorm, fused gate|up SwiGLU, residual -> final RMSNorm ->
 * head. Position of token t is t.
 */

export interface GlmReferenceConfig {
  vocab: number;
  hidden: number;
  ffn: number;
  layers: number;
  heads: number;
  groups: number;
  headDim: number;
  rotaryDim: number;
  base: number;
  eps: number;
  /** ChatGLM's apply_residual_connection_post_layernorm. */
  residualPostNorm?: boolean;
}

/** Where each weight lives: a ChatGLM3 or a GLM-4 checkpoint. `qkv` gives [q | k | v] rows, fused or not. */
export interface GlmWeights {
  embed: Float64Array;
  head: Float64Array;
  finalNorm: Float64Array;
  layer(i: number): {
    inputNorm: Float64Array;
    postNorm: Float64Array;
    /** [(H + 2G) D, C] and bias [(H + 2G) D] (null: no bias). */
    qkv: Float64Array;
    qkvBias: Float64Array | null;
    /** [C, H D] */
    o: Float64Array;
    oBias: Float64Array | null;
    /** [2F, C]: gate rows, then up rows */
    gateUp: Float64Array;
    /** [C, F] */
    down: Float64Array;
  };
}

function rmsNorm(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * (w[i] as number));
}

/** y = W x + b, W [out, in] row-major. */
function matvec(w: Float64Array, x: Float64Array, out: number, bias: Float64Array | null): Float64Array {
  const n = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = bias ? (bias[o] as number) : 0;
    for (let i = 0; i < n; i++) s += (w[o * n + i] as number) * (x[i] as number);
    y[o] = s;
  }
  return y;
}

function rotate(x: Float64Array, offset: number, pos: number, cfg: GlmReferenceConfig): void {
  for (let i = 0; i < cfg.rotaryDim / 2; i++) {
    const theta = pos / cfg.base ** ((2 * i) / cfg.rotaryDim);
    const c = Math.cos(theta);
    const s = Math.sin(theta);
    const a = x[offset + 2 * i] as number;
    const b = x[offset + 2 * i + 1] as number;
    x[offset + 2 * i] = a * c - b * s;
    x[offset + 2 * i + 1] = b * c + a * s;
  }
}

/** ids [B, T], mask [B, T] (1 = key visible; default all) -> logits [B, T, V] */
export function glmReferenceLogits(
  cfg: GlmReferenceConfig,
  w: GlmWeights,
  ids: Int32Array,
  b: number,
  t: number,
  mask?: Int32Array,
): Float64Array {
  const { hidden: C, heads: H, groups: G, headDim: D, ffn: F, vocab: V } = cfg;
  const logits = new Float64Array(b * t * V);
  for (let r = 0; r < b; r++) {
    let hs = Array.from({ length: t }, (_, p) => {
      const id = ids[r * t + p] as number;
      return w.embed.slice(id * C, (id + 1) * C);
    });
    for (let l = 0; l < cfg.layers; l++) {
      const lw = w.layer(l);
      const normed = hs.map((h) => rmsNorm(h, lw.inputNorm, cfg.eps));
      const qkv = normed.map((x, p) => {
        const y = matvec(lw.qkv, x, (H + 2 * G) * D, lw.qkvBias);
        for (let j = 0; j < H + G; j++) rotate(y, j * D, p, cfg); // q heads, then k groups
        return y;
      });
      const attnOut = qkv.map((qRow, p) => {
        const ctx = new Float64Array(H * D);
        for (let j = 0; j < H; j++) {
          const g = Math.floor(j / (H / G));
          const scores: number[] = [];
          for (let s = 0; s <= p; s++) {
            if (mask && mask[r * t + s] === 0) {
              scores.push(Number.NEGATIVE_INFINITY);
              continue;
            }
            let dot = 0;
            for (let d = 0; d < D; d++)
              dot += (qRow[j * D + d] as number) * ((qkv[s] as Float64Array)[(H + g) * D + d] as number);
            scores.push(dot / Math.sqrt(D));
          }
          const max = Math.max(...scores);
          const e = scores.map((x) => Math.exp(x - max));
          const z = e.reduce((a, x) => a + x, 0);
          for (let s = 0; s <= p; s++)
            for (let d = 0; d < D; d++)
              ctx[j * D + d] =
                (ctx[j * D + d] as number) +
                ((e[s] as number) / z) * ((qkv[s] as Float64Array)[(H + G + g) * D + d] as number);
        }
        return matvec(lw.o, ctx, C, lw.oBias);
      });
      const h1 = hs.map((h, p) => {
        const res = cfg.residualPostNorm ? (normed[p] as Float64Array) : h;
        return res.map((v, i) => v + ((attnOut[p] as Float64Array)[i] as number));
      });
      hs = h1.map((h) => {
        const x = rmsNorm(h, lw.postNorm, cfg.eps);
        const gu = matvec(lw.gateUp, x, 2 * F, null);
        const act = new Float64Array(F);
        for (let i = 0; i < F; i++) {
          const g = gu[i] as number;
          act[i] = (g / (1 + Math.exp(-g))) * (gu[F + i] as number);
        }
        const m = matvec(lw.down, act, C, null);
        const res = cfg.residualPostNorm ? x : h;
        return res.map((v, i) => v + (m[i] as number));
      });
    }
    hs.forEach((h, p) => {
      logits.set(matvec(w.head, rmsNorm(h, w.finalNorm, cfg.eps), V, null), (r * t + p) * V);
    });
  }
  return logits;
}

/** HF's shifted causal-LM loss: mean over p < T - 1 of -log softmax(logits[p])[ids[p + 1]] (no padding). */
export function referenceLoss(logits: Float64Array, ids: Int32Array, b: number, t: number, v: number): number {
  let sum = 0;
  let n = 0;
  for (let r = 0; r < b; r++)
    for (let p = 0; p < t - 1; p++) {
      const row = logits.subarray((r * t + p) * v, (r * t + p + 1) * v);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
      sum += lse - (row[ids[r * t + p + 1] as number] as number);
      n++;
    }
  return sum / n;
}
