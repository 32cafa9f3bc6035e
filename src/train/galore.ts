/**
 * GaLore (use_galore; Zhao et al. 2024, the galore_torch GaLoreAdamW that LLaMA-Factory builds): Adam on a low-rank
 * projection of each targeted 2-D weight's gradient. For G [m, n] (galore_proj_type std):
 *
 *   m >= n: P = top-r right singular vectors of G [r, n],  R = G Pᵀ [m, r],  update back = U P
 *   m <  n: P = top-r left singular vectors of G [m, r],   R = Pᵀ G [r, n],  update back = P U
 *
 * P is recomputed from the current gradient every galore_update_interval steps (on steps 0, T, 2T, ... as
 * galore_torch counts them); the Adam moments live in R's shape, so the optimizer state of a [m, n] weight is
 * 2 r max(m, n) + r min-side values instead of 2 m n. The update is galore_torch's (transformers' legacy AdamW):
 *   m = b1 m + (1 - b1) R;  v = b2 v + (1 - b2) R²;  U = -(sqrt(1 - b2^t) / (1 - b1^t)) m / (sqrt(v) + eps)
 *   W += lr * galore_scale * back(U);  then W -= lr * weight_decay * W
 * — the native AdamW kernel computes U exactly when given eps / sqrt(1 - b2^t). Every other trainable parameter takes
 * the same update without projection, as GaLoreAdamW gives its plain groups.
 * Singular vectors come from subspace iteration (GEMMs) with Gram-Schmidt in float64 over the r columns and a
 * Jacobi eigen-decomposition of the r x r Gram matrix (pissa.ts's).
 */
import { axpy_, Generator, keep, matmul, noGrad, normal_, scope, Tensor } from '../engine/index.js';
import { native } from '../engine/native.js';
import { jacobiEigen } from '../models/pissa.js';
import { AdamW, type AdamWOptions, type ParamGroupInput } from './optimizers.js';

export interface GaloreOptions {
  rank: number;
  updateInterval: number;
  scale: number;
}

/** Power steps of the subspace iteration: enough for the leading subspace of a gradient to settle. */
const POWER_STEPS = 16;

/** Orthonormal columns of y [p, r] (modified Gram-Schmidt twice, in float64; a dependent column becomes random). */
function orthonormalColumns(y: Float64Array, p: number, r: number, gen: Generator): Float64Array {
  const q = Float64Array.from(y);
  for (let pass = 0; pass < 2; pass++)
    for (let j = 0; j < r; j++) {
      for (let i = 0; i < j; i++) {
        let dot = 0;
        for (let k = 0; k < p; k++) dot += (q[k * r + i] as number) * (q[k * r + j] as number);
        for (let k = 0; k < p; k++) q[k * r + j] = (q[k * r + j] as number) - dot * (q[k * r + i] as number);
      }
      let norm = 0;
      for (let k = 0; k < p; k++) norm += (q[k * r + j] as number) ** 2;
      norm = Math.sqrt(norm);
      if (norm < 1e-20) {
        // G has rank < r: any direction orthogonal to the others will do; redo this column from noise
        const noise = normal_(Tensor.empty([p]), gen, 0, 1).toFloat32Array();
        for (let k = 0; k < p; k++) q[k * r + j] = noise[k] as number;
        j--;
        continue;
      }
      for (let k = 0; k < p; k++) q[k * r + j] = (q[k * r + j] as number) / norm;
    }
  return q;
}

/**
 * The top-r left singular vectors of a [p, q] (or, with `transposed`, of aᵀ [q, p]) as columns of a [rows, r] f32
 * tensor, in descending singular value order.
 */
export function leadingSingularVectors(a: Tensor, r: number, transposed: boolean, gen: Generator): Tensor {
  return noGrad(() =>
    scope(() => {
      const [p0, q0] = a.shape as [number, number];
      const rows = transposed ? q0 : p0;
      const cols = transposed ? p0 : q0;
      // M = a or aᵀ; M x = matmul(a, x, {transA: transposed}); Mᵀ y = matmul(a, y, {transA: !transposed})
      const apply = (x: Tensor, t: boolean) => matmul(a, x, { transA: t });
      const basis = (x: Tensor, p: number) =>
        Tensor.from(Float32Array.from(orthonormalColumns(Float64Array.from(x.toFloat32Array()), p, r, gen)), [p, r]);
      const start = Tensor.empty([cols, r]);
      normal_(start, gen, 0, 1);
      let q = basis(apply(start, transposed), rows);
      for (let i = 0; i < POWER_STEPS; i++) q = basis(apply(basis(apply(q, !transposed), cols), transposed), rows);
      // Mᵀ Q [cols, r]; its Gram (Qᵀ M Mᵀ Q) [r, r] = E diag(σ²) Eᵀ; the singular vectors are Q E
      const mtq = apply(q, !transposed);
      const gram = Float64Array.from(matmul(mtq, mtq, { transA: true }).toFloat32Array());
      const { vectors } = jacobiEigen(gram);
      return keep(matmul(q, Tensor.from(Float32Array.from(vectors), [r, r])));
    }),
  );
}

/** GaLoreAdamW over the groups; `galore` are the projected parameters (2-D, in one of the groups). */
export class GaLoreAdamW extends AdamW {
  private readonly gen: Generator;

  constructor(
    groups: readonly ParamGroupInput<AdamWOptions>[],
    private readonly galore: ReadonlySet<Tensor>,
    private readonly options: GaloreOptions,
    opts: Partial<AdamWOptions> = {},
    seed = 0,
  ) {
    super(groups, opts);
    this.gen = new Generator(seed);
    for (const p of galore) {
      if (p.ndim !== 2) throw new Error(`GaLore: ${p.name ?? 'a parameter'} is not a matrix`);
      if (options.rank > Math.min(...p.shape))
        throw new Error(`GaLore: galore_rank ${options.rank} exceeds ${p.name ?? 'a weight'}'s size [${p.shape}]`);
    }
  }

  /** Whether p's gradient is projected from the right (m >= n: R = G Pᵀ) or the left. */
  private static right(p: Tensor): boolean {
    return (p.shape[0] as number) >= (p.shape[1] as number);
  }

  protected override bufferShape(p: Tensor, buffer: string, length: number): readonly number[] {
    if (!this.galore.has(p)) return super.bufferShape(p, buffer, length);
    const [m, n] = p.shape as [number, number];
    const r = this.options.rank;
    const right = GaLoreAdamW.right(p);
    if (buffer === 'projector') return right ? [r, n] : [m, r];
    return right ? [m, r] : [r, n];
  }

  override step(): void {
    for (const group of this.paramGroups)
      for (const p of group.params) {
        if (!p.grad) continue;
        scope(() => this.update(p, p.grad as Tensor, group));
      }
  }

  private update(p: Tensor, g: Tensor, h: AdamWOptions): void {
    let s = this.state.get(p);
    if (!s) {
      s = { step: 0, buffers: {} };
      this.state.set(p, s);
    }
    const projected = this.galore.has(p);
    const right = GaLoreAdamW.right(p);
    let grad = g;
    if (projected) {
      const r = this.options.rank;
      if (s.step % this.options.updateInterval === 0 || !s.buffers.projector) {
        s.buffers.projector?.dispose();
        // right: P [r, n] = (left singular vectors of Gᵀ)ᵀ, kept as [r, n]; left: P [m, r]
        const vectors = leadingSingularVectors(g, r, right, this.gen);
        s.buffers.projector = right ? keep(matmul(identity(r), vectors, { transB: true })) : vectors;
        if (right) vectors.dispose();
      }
      const proj = s.buffers.projector as Tensor;
      grad = right ? matmul(g, proj, { transB: true }) : matmul(proj, g, { transA: true });
    }
    s.buffers.expAvg ??= keep(Tensor.zeros(grad.shape));
    s.buffers.expAvgSq ??= keep(Tensor.zeros(grad.shape));
    s.step += 1;
    const eps = h.eps / Math.sqrt(1 - h.beta2 ** s.step);
    const m = s.buffers.expAvg as Tensor;
    const v = s.buffers.expAvgSq as Tensor;
    if (!projected) {
      native.adamw(p.handle, grad.handle, m.handle, v.handle, p.numel, h.lr, h.beta1, h.beta2, eps, 0, s.step);
    } else {
      const u = Tensor.zeros(grad.shape); // becomes -m̂ / (sqrt(v̂) + eps')
      native.adamw(u.handle, grad.handle, m.handle, v.handle, u.numel, 1, h.beta1, h.beta2, eps, 0, s.step);
      const proj = s.buffers.projector as Tensor;
      const back = right ? matmul(u, proj) : matmul(proj, u);
      axpy_(h.lr * this.options.scale, back, p);
    }
    if (h.weightDecay > 0) axpy_(-h.lr * h.weightDecay, p, p);
  }
}

function identity(r: number): Tensor {
  const t = new Float32Array(r * r);
  for (let i = 0; i < r; i++) t[i * r + i] = 1;
  return Tensor.from(t, [r, r]);
}
