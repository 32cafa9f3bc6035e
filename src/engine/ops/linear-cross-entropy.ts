/**
 * Fused linear + cross-entropy (native/src/kernels/linear_cross_entropy.cc), forward and backward side by side:
 * the loss of logits = hidden @ weight^T without ever holding the [N, V] logits or their gradient. The kernel
 * works through chunks of counted rows (a few MB of logits each); ignored rows cost nothing.
 *
 *   linearCrossEntropy(hidden [N, C] f32, weight [V, C] f32/bf16/f16, labels i32 [N],
 *                      { reduction: 'mean' | 'sum' | 'none', ignoreIndex = -100 })
 *     'mean' | 'sum' -> scalar [];  'none' -> [N] per-row loss (-log softmax at the label; 0 for ignored rows)
 *
 * Equals crossEntropy(linear(hidden, weight), labels, opts) (ops/cross-entropy.ts documents the conventions:
 * 'mean' over counted rows, 0 with no counted row, float64 total in row order).
 *
 * 'mean' / 'sum': the loss L = s * sum_i loss_i (s = 1/count or 1) depends on nothing but hidden and weight, and
 * the upstream gradient of a scalar is one number g, so dL*g/dhidden = g * dL/dhidden. The forward therefore
 * computes dhidden [N, C] (and dweight [V, C] when the weight trains) while each logits chunk is at hand, and the
 * backward only scales them by g. With grad mode off or no input requiring grad it computes the loss only.
 * 'none': the upstream gradient is a vector g [N] known only in the backward, so the forward computes the losses
 * (one GEMM per chunk) and the backward recomputes each chunk's logits with row coefficients g (three GEMMs).
 * For per-token log-probabilities (DPO-style sums over a response), negate the 'none' rows.
 * Under bf16 matmul precision (ops/matmul.ts) the kernel's GEMMs take bf16 operands with f32 sums, as autocast runs
 * the LM head; logits, softmax and loss stay f32. The precision is the one in force at the forward, also for the
 * 'none' backward.
 */
import { isGradEnabled, record } from '../autograd.js';
import { DTYPE_CODE } from '../dtype.js';
import { native } from '../native.js';
import { formatShape, Tensor } from '../tensor.js';
import { expectF32, expectRank } from './check.js';
import { countLabels } from './cross-entropy.js';
import { getMatmulPrecision } from './matmul.js';

export interface LinearCrossEntropyOptions {
  /** Label value that marks a row as not counted (default -100, as HF and torch use). */
  ignoreIndex?: number;
  /** 'mean' over counted rows (default), 'sum', or 'none' (the per-row losses [N]). */
  reduction?: 'mean' | 'sum' | 'none';
}

/** Cross-entropy of hidden [N, C] @ weight [V, C]^T against labels i32 [N], without [N, V] logits. */
export function linearCrossEntropy(
  hidden: Tensor,
  weight: Tensor,
  labels: Tensor,
  opts: LinearCrossEntropyOptions = {},
): Tensor {
  const op = 'linearCrossEntropy';
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const reduction = opts.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none')
    throw new Error(`${op}: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  const { N, C, V, count } = checkInputs(op, hidden, weight, labels, ignoreIndex);
  const bf16 = getMatmulPrecision() === 'bf16';
  // Arguments after the gradient buffers: (N, C, V, ignoreIndex).
  const run = (
    rowCoef: Tensor | null,
    coefScale: number,
    rowOut: Tensor | null,
    dh: Tensor | null,
    dw: Tensor | null,
  ) =>
    native.linearCrossEntropy(
      hidden.handle,
      weight.handle,
      DTYPE_CODE[weight.dtype],
      labels.handle,
      rowCoef?.handle ?? null,
      coefScale,
      rowOut?.handle ?? null,
      dh?.handle ?? null,
      dw?.handle ?? null,
      N,
      C,
      V,
      ignoreIndex,
      bf16,
    ) as number;

  if (reduction === 'none') {
    const out = Tensor.empty([N]);
    run(null, 1, out, null, null);
    // d sum_i(g_i * loss_i) / d logits_i = g_i * (softmax - onehot): the kernel's row coefficients.
    record(out, op, [hidden, weight], (g, needs) => {
      const dh = needs[0] ? Tensor.empty([N, C]) : null;
      const dw = needs[1] ? Tensor.empty([V, C]) : null;
      run(g, 1, null, dh, dw);
      return [dh, dw];
    });
    return out;
  }

  const divisor = reduction === 'mean' ? count : 1;
  const coefScale = divisor === 0 ? 0 : 1 / divisor;
  const grad = isGradEnabled();
  const dh = grad && hidden.requiresGrad ? Tensor.empty([N, C]) : null;
  const dw = grad && weight.requiresGrad ? Tensor.empty([V, C]) : null;
  const total = run(null, coefScale, null, dh, dw);
  const out = Tensor.scalar(divisor === 0 ? 0 : total / divisor);
  // The gradients were computed for an upstream gradient of 1; scaled in place (the backward runs once per graph)
  // and handed over to autograd, which accumulates or adopts them.
  const scaled = (t: Tensor | null, s: number): Tensor | null => {
    if (t && s !== 1) native.scale(t.handle, s, t.handle, t.numel);
    return t;
  };
  const recorded = record(out, op, [hidden, weight], (g, needs) => {
    const s = g.item();
    return [needs[0] ? scaled(dh, s) : null, needs[1] ? scaled(dw, s) : null];
  });
  if (!recorded) {
    dh?.dispose();
    dw?.dispose();
  }
  return out;
}

/** The rows per chunk the kernel uses at vocabulary size V (tests size their cases to cross chunk borders). */
export function linearCrossEntropyChunkRows(V: number): number {
  return native.linearCrossEntropyChunkRows(V) as number;
}

/** Validates shapes, dtypes and every label (in [0, V) or ignoreIndex); returns the sizes and the counted rows. */
function checkInputs(
  op: string,
  hidden: Tensor,
  weight: Tensor,
  labels: Tensor,
  ignoreIndex: number,
): { N: number; C: number; V: number; count: number } {
  expectF32(op, 'hidden', hidden);
  expectRank(op, 'hidden [N, C]', hidden, 2);
  if (weight.ndim !== 2 || weight.dtype === 'i32')
    throw new Error(`${op}: weight must be a 2-D f32/bf16/f16 [V, C] matrix, got ${weight}`);
  const [N, C] = hidden.shape as [number, number];
  const [V, wc] = weight.shape as [number, number];
  if (wc !== C)
    throw new Error(
      `${op}: hidden ${formatShape(hidden.shape)} and weight ${formatShape(weight.shape)} must share C (weight is [V, C], nn.Linear's layout)`,
    );
  if (V === 0 || C === 0)
    throw new Error(`${op}: weight ${formatShape(weight.shape)} needs a non-empty vocabulary and hidden size`);
  return { N, C, V, count: countLabels(op, labels, N, V, ignoreIndex, 'hidden row') };
}
