/**
 * matmul and linear over the native GEMM (native/src/kernels/gemm.cc), forward and backward side by side.
 * Transposes are GEMM flags, never copies; bf16/f16 weights are read as stored (widened while packing); a frozen
 * weight (requiresGrad false) costs no weight-gradient GEMM.
 */
import { record } from '../autograd.js';
import { DTYPE_CODE } from '../dtype.js';
import { native } from '../native.js';
import { formatShape, Tensor } from '../tensor.js';
import { expectF32 } from './check.js';

/**
 * The precision of matmul/linear products, as torch.set_float32_matmul_precision and autocast set it: 'f32', or
 * 'bf16' (mixed precision: operands rounded to bf16, products exact, sums in f32; AVX512_BF16 where the CPU has
 * it). Products with a side of at most 16 (decoding, LoRA ranks) stay f32 either way: they are memory-bound.
 */
export type MatmulPrecision = 'f32' | 'bf16';

let matmulPrecision: MatmulPrecision = 'f32';

export function setMatmulPrecision(precision: MatmulPrecision): void {
  matmulPrecision = precision;
}

export function getMatmulPrecision(): MatmulPrecision {
  return matmulPrecision;
}

/** Runs fn with the given matmul precision, restoring the previous one afterwards (also when fn throws). */
export function withMatmulPrecision<T>(precision: MatmulPrecision, fn: () => T): T {
  const prev = matmulPrecision;
  matmulPrecision = precision;
  try {
    return fn();
  } finally {
    matmulPrecision = prev;
  }
}

export interface GemmIntoArgs {
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** 0 overwrites C (never reads it); 1 accumulates into C. */
  beta?: number;
  batch?: number;
  /** Element strides between batch items; 0 shares one matrix (for C: every item adds into it). */
  strideA?: number;
  strideB?: number;
  strideC?: number;
  bias?: Tensor;
  /** Overrides the matmul precision for this product. */
  precision?: MatmulPrecision;
}

/**
 * C = alpha * op(A) @ op(B) + beta * C (+ bias), batched, into an existing f32 tensor. A and B are contiguous
 * ([M,K] or [K,M] with transA; [K,N] or [N,K] with transB), stored f32, bf16 or f16. Not recorded on the tape.
 */
export function gemmInto(a: Tensor, b: Tensor, c: Tensor, args: GemmIntoArgs): void {
  const { m, n, k, transA = false, transB = false, alpha = 1, beta = 0, batch = 1 } = args;
  const { strideA = m * k, strideB = k * n, strideC = m * n } = args;
  expectF32('gemm', 'C', c);
  if (a.dtype === 'i32' || b.dtype === 'i32') throw new Error('gemm: A and B must be f32, bf16 or f16, not i32');
  const need = (stride: number, size: number) => (batch - 1) * stride + size;
  if (a.numel < need(strideA, m * k) || b.numel < need(strideB, k * n) || c.numel < need(strideC, m * n))
    throw new Error(
      `gemm: tensors too small for batch ${batch} of [${m}, ${k}] @ [${k}, ${n}]: A ${formatShape(a.shape)}, B ${formatShape(b.shape)}, C ${formatShape(c.shape)}`,
    );
  if (args.bias) {
    expectF32('gemm', 'bias', args.bias);
    if (args.bias.numel !== n) throw new Error(`gemm: bias has ${args.bias.numel} values, expected N = ${n}`);
  }
  native.gemm(
    a.handle,
    DTYPE_CODE[a.dtype],
    b.handle,
    DTYPE_CODE[b.dtype],
    c.handle,
    m,
    n,
    k,
    transA,
    transB,
    alpha,
    beta,
    batch,
    strideA,
    strideB,
    strideC,
    args.bias?.handle ?? null,
    (args.precision ?? matmulPrecision) === 'bf16',
  );
}

/** Number of native GEMM calls so far (tests prove with it that a frozen weight runs no weight-gradient GEMM). */
export function gemmCallCount(): number {
  return native.gemmCallCount();
}

export interface MatmulOptions {
  /** a is stored [..., K, M]: use its transpose. */
  transA?: boolean;
  /** b is stored [..., N, K]: use its transpose. */
  transB?: boolean;
}

/**
 * op(a) @ op(b). a: f32 [..., M, K] ([..., K, M] with transA); b: [..., K, N] ([..., N, K] with transB) with the
 * same leading dims as a, or 2-D and shared by every item of a's batch; b may be f32, bf16 or f16. -> [..., M, N].
 */
export function matmul(a: Tensor, b: Tensor, { transA = false, transB = false }: MatmulOptions = {}): Tensor {
  expectF32('matmul', 'a', a);
  if (b.dtype === 'i32') throw new Error('matmul: b must be f32, bf16 or f16, not i32');
  if (a.ndim < 2 || b.ndim < 2)
    throw new Error(`matmul: a and b need rank >= 2, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const lead = a.shape.slice(0, -2);
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [m, k] = transA ? [ac, ar] : [ar, ac];
  const [kb, n] = transB ? [bc, br] : [br, bc];
  const shared = b.ndim === 2;
  if (!shared && formatShape(b.shape.slice(0, -2)) !== formatShape(lead))
    throw new Error(
      `matmul: b's leading dims ${formatShape(b.shape.slice(0, -2))} must equal a's ${formatShape(lead)} (or b must be 2-D)`,
    );
  if (kb !== k)
    throw new Error(
      `matmul: inner dims differ: a ${formatShape(a.shape)}${transA ? '^T' : ''} has K = ${k}, b ${formatShape(b.shape)}${transB ? '^T' : ''} has K = ${kb}`,
    );
  const batch = lead.reduce((x, y) => x * y, 1);
  // A 2-D b under an untransposed a: the batch folds into M (one large GEMM instead of many small ones).
  const fold = shared && !transA;
  const rowsA = fold ? batch * m : m;
  const items = fold ? 1 : batch;
  const strideB = shared ? 0 : k * n;
  const out = Tensor.empty([...lead, m, n]);
  gemmInto(a, b, out, { m: rowsA, n, k, transA, transB, batch: items, strideB });
  record(out, 'matmul', [a, b], (g, needs) => {
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (needs[0]) {
      da = Tensor.empty(a.shape);
      if (transA)
        // dA^T [K, M] = op(B) [K, N] @ G^T
        gemmInto(b, g, da, { m: k, n: m, k: n, transA: transB, transB: true, batch, strideA: strideB });
      // dA [M, K] = G [M, N] @ op(B)^T
      else gemmInto(g, b, da, { m: rowsA, n: k, k: n, transB: !transB, batch: items, strideB });
    }
    if (needs[1]) {
      db = Tensor.empty(b.shape);
      // A shared b sums its gradient over the batch: folded into K, or accumulated item by item (strideC = 0).
      const strideC = shared ? 0 : k * n;
      if (transB)
        // dB^T [N, K] = G^T [N, M] @ op(A) [M, K]
        gemmInto(g, a, db, { m: n, n: k, k: rowsA, transA: true, transB: transA, batch: items, strideC });
      // dB [K, N] = op(A)^T [K, M] @ G [M, N]
      else gemmInto(a, g, db, { m: k, n, k: rowsA, transA: !transA, batch: items, strideC });
    }
    return [da, db];
  });
  return out;
}

/**
 * x [..., K] @ weight^T + bias: weight [N, K] in nn.Linear's layout (f32, bf16 or f16), bias [N] f32 -> [..., N].
 * Leading dims fold into M: one GEMM. Backward: dx = g @ W; dW = g^T @ x only when weight.requiresGrad;
 * db = column sums of g only when bias.requiresGrad.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  expectF32('linear', 'x', x);
  if (weight.ndim !== 2 || weight.dtype === 'i32')
    throw new Error(`linear: weight must be a 2-D f32/bf16/f16 [N, K] matrix, got ${weight}`);
  const [n, k] = weight.shape as [number, number];
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== k)
    throw new Error(`linear: x ${formatShape(x.shape)} must end in K = ${k} (weight ${formatShape(weight.shape)})`);
  if (bias && (bias.numel !== n || bias.dtype !== 'f32'))
    throw new Error(`linear: bias must be f32 with N = ${n} values, got ${bias}`);
  const m = x.numel / k;
  const out = Tensor.empty([...x.shape.slice(0, -1), n]);
  gemmInto(x, weight, out, { m, n, k, transB: true, bias });
  const inputs = bias ? [x, weight, bias] : [x, weight];
  record(out, 'linear', inputs, (g, needs) => {
    let dx: Tensor | null = null;
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    if (needs[0]) {
      dx = Tensor.empty(x.shape);
      gemmInto(g, weight, dx, { m, n: k, k: n }); // [M, N] @ [N, K]
    }
    if (needs[1]) {
      dw = Tensor.empty(weight.shape);
      gemmInto(g, x, dw, { m: n, n: k, k: m, transA: true }); // [N, M] @ [M, K]
    }
    if (needs[2]) {
      db = Tensor.empty([n]);
      native.colsum(g.handle, db.handle, m, n);
    }
    return bias ? [dx, dw, db] : [dx, dw];
  });
  return out;
}
