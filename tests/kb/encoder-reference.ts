// A float64 reference of HF's BertModel / XLMRobertaModel forward (one unpadded sequence) and of the
// sequence-classification heads, written from the architecture's definition for the encoder parity tests.
import type { TinyEncoder } from './tiny-encoders.js';

type Matrix = number[][];

// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): far under the f32 tolerance the tests use.
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

function w(m: TinyEncoder, name: string) {
  const e = m.weights.get(name);
  if (!e) throw new Error(`reference: no weight ${name}`);
  return e;
}

function linear(m: TinyEncoder, x: Matrix, name: string): Matrix {
  const { data, shape } = w(m, `${name}.weight`);
  const [out, inp] = shape as [number, number];
  const bias = w(m, `${name}.bias`).data;
  return x.map((row) =>
    Array.from({ length: out }, (_, o) => {
      let s = bias[o] as number;
      for (let i = 0; i < inp; i++) s += (data[o * inp + i] as number) * (row[i] as number);
      return s;
    }),
  );
}

function layerNorm(m: TinyEncoder, x: Matrix, name: string): Matrix {
  const g = w(m, `${name}.weight`).data;
  const b = w(m, `${name}.bias`).data;
  return x.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / row.length;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / row.length;
    return row.map((v, c) => ((v - mean) / Math.sqrt(variance + m.eps)) * (g[c] as number) + (b[c] as number));
  });
}

const addRows = (a: Matrix, b: Matrix): Matrix => a.map((r, i) => r.map((v, j) => v + (b[i]?.[j] as number)));

function row(m: TinyEncoder, name: string, index: number): number[] {
  const { data, shape } = w(m, name);
  const c = shape[1] as number;
  return Array.from(data.subarray(index * c, (index + 1) * c));
}

/** Last hidden state [T][C] of one sequence. */
export function referenceHidden(m: TinyEncoder, ids: number[], typeIds: number[]): Matrix {
  const p = m.prefix;
  const embedded = ids.map((id, t) => {
    const word = row(m, `${p}embeddings.word_embeddings.weight`, id);
    const pos = row(m, `${p}embeddings.position_embeddings.weight`, m.positionOffset + t);
    const type = row(m, `${p}embeddings.token_type_embeddings.weight`, typeIds[t] ?? 0);
    return word.map((v, c) => v + (pos[c] as number) + (type[c] as number));
  });
  let x = layerNorm(m, embedded, `${p}embeddings.LayerNorm`);
  const d = m.hidden / m.heads;
  for (let i = 0; i < m.layers; i++) {
    const l = `${p}encoder.layer.${i}`;
    const q = linear(m, x, `${l}.attention.self.query`);
    const k = linear(m, x, `${l}.attention.self.key`);
    const v = linear(m, x, `${l}.attention.self.value`);
    const ctx: Matrix = x.map(() => new Array(m.hidden).fill(0));
    for (let h = 0; h < m.heads; h++) {
      for (let t = 0; t < x.length; t++) {
        const scores = k.map((kr) => {
          let s = 0;
          for (let j = 0; j < d; j++) s += (q[t]?.[h * d + j] as number) * (kr[h * d + j] as number);
          return s / Math.sqrt(d);
        });
        const top = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - top));
        const z = e.reduce((a, b) => a + b, 0);
        const out = ctx[t] as number[];
        for (let s = 0; s < x.length; s++)
          for (let j = 0; j < d; j++)
            out[h * d + j] = (out[h * d + j] as number) + ((e[s] as number) / z) * (v[s]?.[h * d + j] as number);
      }
    }
    x = layerNorm(m, addRows(linear(m, ctx, `${l}.attention.output.dense`), x), `${l}.attention.output.LayerNorm`);
    const inner = linear(m, x, `${l}.intermediate.dense`).map((r) => r.map((u) => 0.5 * u * (1 + erf(u / Math.SQRT2))));
    x = layerNorm(m, addRows(linear(m, inner, `${l}.output.dense`), x), `${l}.output.LayerNorm`);
  }
  return x;
}

export function referenceEmbedding(m: TinyEncoder, ids: number[], pooling: 'cls' | 'mean'): number[] {
  const h = referenceHidden(
    m,
    ids,
    ids.map(() => 0),
  );
  const first = h[0] as number[];
  const pooled =
    pooling === 'cls' ? first : first.map((_, c) => h.reduce((a, r) => a + (r[c] as number), 0) / h.length);
  const norm = Math.sqrt(pooled.reduce((a, v) => a + v * v, 0));
  return pooled.map((v) => v / norm);
}

/** The reranker's score: the classification head on the first token. */
export function referenceScore(
  m: TinyEncoder,
  ids: number[],
  typeIds: number[],
  family: 'bert' | 'xlm-roberta',
): number {
  const first = [referenceHidden(m, ids, typeIds)[0] as number[]];
  const inner = linear(m, first, family === 'bert' ? 'bert.pooler.dense' : 'classifier.dense').map((r) =>
    r.map(Math.tanh),
  );
  return linear(m, inner, family === 'bert' ? 'classifier' : 'classifier.out_proj')[0]?.[0] as number;
}
