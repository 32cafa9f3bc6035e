/**
 * PiSSA (LLaMA-Factory's pissa_init / pissa_iter, PEFT's init_lora_weights "pissa" / "pissa_niter_<n>"): LoRA's
 * factors start as the principal singular directions of the base weight and the base keeps the residual:
 *   W [out, in] ≈ U_r S_r V_rᵀ,  A = diag(sqrt(S_r / s)) V_rᵀ [r, in],  B = U_r diag(sqrt(S_r / s)) [out, r],
 *   W_res = W - s B A,  so  W_res + s B A = W: the adapted model starts as the base model.
 * The top-r triplets come from subspace iteration (the scheme of torch.svd_lowrank: a random range, `niter` power
 * steps with re-orthonormalisation, then the SVD of the small projected matrix). The products are native GEMMs;
 * only r x r work (Cholesky, Jacobi eigen-decomposition) runs in TypeScript. pissa_iter -1 (PEFT's exact SVD)
 * iterates until the subspace settles.
 */
import { add, type Generator, keep, matmul, noGrad, randn, scale, scope, Tensor } from '../engine/index.js';
import { type LoraConfig, PEFT_PREFIX, saveLoraAdapter } from '../io/peft.js';
import type { Linear } from '../nn/linear.js';

/** Power steps for pissa_iter = -1 (an exact SVD in PEFT): enough for the leading subspace to converge. */
const CONVERGED_ITERATIONS = 64;

export interface PissaFactors {
  /** [r, in] */
  a: Tensor;
  /** [out, r] */
  b: Tensor;
  /** W - s B A [out, in], f32 */
  residual: Tensor;
}

/** PiSSA's initial factors and residual for a weight w [out, in] (any float dtype), rank r, LoRA scaling s. */
export function pissaInit(w: Tensor, r: number, scaling: number, niter: number, gen: Generator): PissaFactors {
  return noGrad(() =>
    scope(() => {
      const [out, inp] = w.shape as [number, number];
      if (r > Math.min(out, inp)) throw new Error(`PiSSA: rank ${r} exceeds the weight's size [${out}, ${inp}]`);
      const w32 = w.dtype === 'f32' ? w : w.to('f32');
      const iterations = niter < 0 ? CONVERGED_ITERATIONS : niter;
      // Q [out, r]: an orthonormal basis of W's leading column space
      let q = orthonormal(matmul(w32, randn([inp, r], gen)));
      for (let i = 0; i < iterations; i++) {
        const z = orthonormal(matmul(w32, q, { transA: true })); // [in, r]
        q = orthonormal(matmul(w32, z)); // [out, r]
      }
      const small = matmul(q, w32, { transA: true }); // Qᵀ W [r, in]
      const gram = toRows(matmul(small, small, { transB: true }), r, r);
      const { values, vectors } = jacobiEigen(gram); // descending
      const sigma = values.map((v) => Math.sqrt(Math.max(v, 0)));
      // U = Q E, Vᵀ = diag(1 / σ) Eᵀ (Qᵀ W); with √(σ/s) on each side: A = diag(√(σ/s) / σ) Eᵀ Qᵀ W, B = Q E diag(√(σ/s))
      const eT = new Float32Array(r * r);
      const eScaled = new Float32Array(r * r);
      for (let i = 0; i < r; i++)
        for (let j = 0; j < r; j++) {
          const root = Math.sqrt((sigma[j] as number) / scaling);
          const sj = sigma[j] as number;
          eT[j * r + i] = ((vectors[i * r + j] as number) * (sj > 0 ? root / sj : 0)) as number;
          eScaled[i * r + j] = (vectors[i * r + j] as number) * root;
        }
      const a = matmul(Tensor.from(eT, [r, r]), small);
      const b = matmul(q, Tensor.from(eScaled, [r, r]));
      const residual = add(w32, scale(matmul(b, a), -scaling));
      return { a, b, residual };
    }),
  );
}

/** Y [n, r] -> Q [n, r] with orthonormal columns spanning Y (CholeskyQR2: two passes for accuracy). */
function orthonormal(y: Tensor): Tensor {
  return choleskyQr(choleskyQr(y));
}

function choleskyQr(y: Tensor): Tensor {
  const r = y.shape[1] as number;
  const g = toRows(matmul(y, y, { transA: true }), r, r);
  // a small ridge keeps a rank-deficient range (exactly low-rank weights) factorable
  let trace = 0;
  for (let i = 0; i < r; i++) trace += g[i * r + i] as number;
  for (let i = 0; i < r; i++) g[i * r + i] = (g[i * r + i] as number) + 1e-12 * trace + 1e-30;
  const l = cholesky(g, r);
  return matmul(y, Tensor.from(Float32Array.from(upperInverse(l, r)), [r, r]));
}

function toRows(t: Tensor, rows: number, cols: number): Float64Array {
  const v = Float64Array.from(t.toFloat32Array());
  if (v.length !== rows * cols) throw new Error(`expected ${rows}x${cols} values, got ${v.length}`);
  return v;
}

/** Lower-triangular L with L Lᵀ = g (row-major r x r). */
function cholesky(g: Float64Array, r: number): Float64Array {
  const l = new Float64Array(r * r);
  for (let i = 0; i < r; i++)
    for (let j = 0; j <= i; j++) {
      let s = g[i * r + j] as number;
      for (let k = 0; k < j; k++) s -= (l[i * r + k] as number) * (l[j * r + k] as number);
      l[i * r + j] = i === j ? Math.sqrt(Math.max(s, 1e-300)) : s / (l[j * r + j] as number);
    }
  return l;
}

/** (Lᵀ)⁻¹ for lower-triangular L: Y Lᵀ⁻¹ has orthonormal columns when L Lᵀ = YᵀY. */
function upperInverse(l: Float64Array, r: number): Float64Array {
  // inverse of L (lower), then transpose
  const inv = new Float64Array(r * r);
  for (let i = 0; i < r; i++) {
    inv[i * r + i] = 1 / (l[i * r + i] as number);
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = j; k < i; k++) s += (l[i * r + k] as number) * (inv[k * r + j] as number);
      inv[i * r + j] = -s / (l[i * r + i] as number);
    }
  }
  const out = new Float64Array(r * r);
  for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) out[i * r + j] = inv[j * r + i] as number;
  return out;
}

/** Eigen-decomposition of a symmetric r x r matrix (cyclic Jacobi): values descending, vectors as columns. */
export function jacobiEigen(m: Float64Array): { values: number[]; vectors: Float64Array } {
  const r = Math.round(Math.sqrt(m.length));
  const a = Float64Array.from(m);
  const v = new Float64Array(r * r);
  for (let i = 0; i < r; i++) v[i * r + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < r; p++) for (let q = p + 1; q < r; q++) off += (a[p * r + q] as number) ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < r; p++)
      for (let q = p + 1; q < r; q++) {
        const apq = a[p * r + q] as number;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = ((a[q * r + q] as number) - (a[p * r + p] as number)) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < r; k++) {
          const akp = a[k * r + p] as number;
          const akq = a[k * r + q] as number;
          a[k * r + p] = c * akp - s * akq;
          a[k * r + q] = s * akp + c * akq;
        }
        for (let k = 0; k < r; k++) {
          const apk = a[p * r + k] as number;
          const aqk = a[q * r + k] as number;
          a[p * r + k] = c * apk - s * aqk;
          a[q * r + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < r; k++) {
          const vkp = v[k * r + p] as number;
          const vkq = v[k * r + q] as number;
          v[k * r + p] = c * vkp - s * vkq;
          v[k * r + q] = s * vkp + c * vkq;
        }
      }
  }
  const order = Array.from({ length: r }, (_, i) => i).sort(
    (i, j) => (a[j * r + j] as number) - (a[i * r + i] as number),
  );
  const vectors = new Float64Array(r * r);
  order.forEach((src, dst) => {
    for (let k = 0; k < r; k++) vectors[k * r + dst] = v[k * r + src] as number;
  });
  return { values: order.map((i) => a[i * r + i] as number), vectors };
}

/** PEFT's init_lora_weights value for LLaMA-Factory's pissa_iter (-1: the exact SVD). */
export function pissaInitName(niter: number): string {
  return niter < 0 ? 'pissa' : `pissa_niter_${niter}`;
}

/** The power steps an init_lora_weights value asks for, or null when it is not PiSSA. */
export function pissaIterationsOf(init: boolean | string): number | null {
  if (init === 'pissa') return -1;
  const m = typeof init === 'string' ? /^pissa_niter_(\d+)$/.exec(init) : null;
  return m ? Number(m[1]) : null;
}

/**
 * Makes `base` hold PiSSA's residual (in its own dtype, frozen) and returns the initial factors [A, B], kept
 * (outside every scope).
 */
export function applyPissa(base: Linear, r: number, scaling: number, niter: number, gen: Generator): [Tensor, Tensor] {
  if (base.quantized) throw new Error('PiSSA over a quantized base is not supported: load the base unquantized');
  const w = base.weight;
  const { a, b, residual } = pissaInit(w, r, scaling, niter, gen);
  const stored = w.dtype === 'f32' ? residual : residual.to(w.dtype);
  if (stored !== residual) residual.dispose();
  keep(stored);
  stored.name = w.name;
  w.dispose();
  base.replaceWeight(stored);
  return [keep(a), keep(b)];
}

/**
 * PEFT's conversion of a trained PiSSA adapter into a LoRA for the original base (save_pretrained with
 * path_initial_model_for_weight_conversion): s B A - s B0 A0 = s [B, -B0] [A; A0], rank 2r, alpha doubled
 * (times sqrt 2 with rsLoRA) so the scaling is unchanged.
 */
export function convertedFactors(a: Tensor, b: Tensor, a0: Tensor, b0: Tensor): [Tensor, Tensor] {
  const [r, inp] = a.shape as [number, number];
  const out = b.shape[0] as number;
  const stackedA = new Float32Array(2 * r * inp);
  stackedA.set(a.toFloat32Array(), 0);
  stackedA.set(a0.toFloat32Array(), r * inp);
  const bv = b.toFloat32Array();
  const b0v = b0.toFloat32Array();
  const joinedB = new Float32Array(out * 2 * r);
  for (let o = 0; o < out; o++)
    for (let j = 0; j < r; j++) {
      joinedB[o * 2 * r + j] = bv[o * r + j] as number;
      joinedB[o * 2 * r + r + j] = -(b0v[o * r + j] as number);
    }
  return [Tensor.from(stackedA, [2 * r, inp]), Tensor.from(joinedB, [out, 2 * r])];
}

/**
 * Writes LLaMA-Factory's pissa_convert folders: `initial` = the starting factors (output_dir/pissa_init), `converted`
 * = the trained adapter as a LoRA for the original base (output_dir/pissa_converted). Both say init_lora_weights
 * true: they apply to the unchanged base.
 */
export function savePissaAdapter(
  dir: string,
  which: 'initial' | 'converted',
  cfg: LoraConfig,
  layers: readonly (readonly [string, { loraA: Tensor; loraB: Tensor }, readonly [Tensor, Tensor]])[],
): void {
  const weights = new Map<string, Tensor>();
  const owned: Tensor[] = [];
  for (const [path, m, [a0, b0]] of layers) {
    const [a, b] = which === 'initial' ? [a0, b0] : convertedFactors(m.loraA, m.loraB, a0, b0);
    if (which === 'converted') owned.push(a, b);
    weights.set(`${PEFT_PREFIX}${path}.lora_A.weight`, a);
    weights.set(`${PEFT_PREFIX}${path}.lora_B.weight`, b);
  }
  const double = (x: number) => (which === 'initial' ? x : 2 * x);
  const alpha = which === 'initial' ? cfg.loraAlpha : cfg.useRslora ? Math.SQRT2 * cfg.loraAlpha : 2 * cfg.loraAlpha;
  try {
    saveLoraAdapter(
      dir,
      {
        ...cfg,
        r: double(cfg.r),
        loraAlpha: alpha,
        rankPattern: Object.fromEntries(Object.entries(cfg.rankPattern).map(([k, v]) => [k, double(v)])),
        initLoraWeights: true,
        inferenceMode: true,
      },
      weights,
    );
  } finally {
    for (const t of owned) t.dispose();
  }
}
