/**
 * Float64 references for the GEMM, matmul and linear (tests only). Matrices are row-major Float64Arrays as stored;
 * `trans` says the stored matrix is op(X)^T, exactly as the native flags do.
 */

/** op(X)[r][c] of a matrix stored row-major with `cols` stored columns. */
function at(x: Float64Array, storedCols: number, r: number, c: number, trans: boolean): number {
  return (trans ? x[c * storedCols + r] : x[r * storedCols + c]) as number;
}

export interface GemmRefArgs {
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  /** C's previous values (read when beta != 0). */
  c?: Float64Array;
  bias?: Float64Array;
}

/** alpha * op(A) @ op(B) + beta * C (+ bias) for one [M, N] matrix. */
export function gemmRef(a: Float64Array, b: Float64Array, args: GemmRefArgs): Float64Array {
  const { m, n, k, transA = false, transB = false, alpha = 1, beta = 0, c, bias } = args;
  const out = new Float64Array(m * n);
  const lda = transA ? m : k;
  const ldb = transB ? k : n;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += at(a, lda, i, p, transA) * at(b, ldb, p, j, transB);
      const prev = beta !== 0 && c ? beta * (c[i * n + j] as number) : 0;
      out[i * n + j] = alpha * s + prev + (bias ? (bias[j] as number) : 0);
    }
  return out;
}

export interface MatmulRefShape {
  /** Batch items (a's leading dims flattened); b is shared by all items when bShared. */
  batch: number;
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  bShared?: boolean;
}

/** Batched matmul: out[b] = op(A[b]) @ op(B[b or shared]). */
export function matmulRef(a: Float64Array, b: Float64Array, s: MatmulRefShape): Float64Array {
  const { batch, m, n, k } = s;
  const out = new Float64Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    const at_ = a.subarray(t * m * k, (t + 1) * m * k);
    const bt = s.bShared ? b : b.subarray(t * k * n, (t + 1) * k * n);
    out.set(gemmRef(at_, bt, { m, n, k, transA: s.transA, transB: s.transB }), t * m * n);
  }
  return out;
}

/** Gradients of sum(matmul(a, b) * g) w.r.t. a and b, as stored (transposed layouts stay transposed). */
export function matmulBackwardRef(
  a: Float64Array,
  b: Float64Array,
  g: Float64Array,
  s: MatmulRefShape,
): { da: Float64Array; db: Float64Array } {
  const { batch, m, n, k, transA = false, transB = false } = s;
  const da = new Float64Array(a.length);
  const db = new Float64Array(b.length);
  for (let t = 0; t < batch; t++) {
    const aOff = t * m * k;
    const bOff = s.bShared ? 0 : t * k * n;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        const gv = g[t * m * n + i * n + j] as number;
        for (let p = 0; p < k; p++) {
          // out[i][j] += op(A)[i][p] * op(B)[p][j]
          const ai = aOff + (transA ? p * m + i : i * k + p);
          const bi = bOff + (transB ? j * k + p : p * n + j);
          da[ai] = (da[ai] as number) + gv * (b[bi] as number);
          db[bi] = (db[bi] as number) + gv * (a[ai] as number);
        }
      }
  }
  return { da, db };
}

/** x [M, K] @ w [N, K]^T + bias [N]. */
export function linearRef(x: Float64Array, w: Float64Array, m: number, n: number, k: number, bias?: Float64Array) {
  return gemmRef(x, w, { m, n, k, transB: true, bias });
}

/** Gradients of sum(linear(x, w, bias) * g): dx [M, K], dw [N, K], db [N]. */
export function linearBackwardRef(
  x: Float64Array,
  w: Float64Array,
  g: Float64Array,
  m: number,
  n: number,
  k: number,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const { da, db } = matmulBackwardRef(x, w, g, { batch: 1, m, n, k, transB: true });
  const dbias = new Float64Array(n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) dbias[j] = (dbias[j] as number) + (g[i * n + j] as number);
  return { dx: da, dw: db, db: dbias };
}
