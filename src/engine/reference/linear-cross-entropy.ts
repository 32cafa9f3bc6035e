/**
 * Float64 reference for the fused linear + cross-entropy (tests only): the unfused computation, logits =
 * hidden [N, C] @ weight [V, C]^T, then the cross-entropy references.
 */
import { tokenLogProbsBackwardRef, tokenLogProbsRef } from './cross-entropy.js';
import { gemmRef } from './matmul.js';

export interface LinearCrossEntropyRefShape {
  N: number;
  C: number;
  V: number;
  ignoreIndex?: number;
}

/** Per-row loss [N]: -log softmax(hidden_i @ weight^T)[labels_i]; 0 for ignored rows. */
export function linearCrossEntropyRowsRef(
  hidden: Float64Array,
  weight: Float64Array,
  labels: ArrayLike<number>,
  { N, C, V, ignoreIndex = -100 }: LinearCrossEntropyRefShape,
): Float64Array {
  const logits = gemmRef(hidden, weight, { m: N, n: V, k: C, transB: true });
  return tokenLogProbsRef(logits, labels, V, ignoreIndex).map((v) => -v);
}

/** The mean (over counted rows; 0 when none) or the sum of the per-row losses. */
export function linearCrossEntropyRef(
  hidden: Float64Array,
  weight: Float64Array,
  labels: ArrayLike<number>,
  shape: LinearCrossEntropyRefShape,
  reduction: 'mean' | 'sum' = 'mean',
): number {
  const rows = linearCrossEntropyRowsRef(hidden, weight, labels, shape);
  const ignoreIndex = shape.ignoreIndex ?? -100;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < shape.N; i++) {
    if (labels[i] === ignoreIndex) continue;
    sum += rows[i] as number;
    count++;
  }
  if (reduction === 'sum') return sum;
  return count === 0 ? 0 : sum / count;
}

/**
 * Gradients of sum_i(g_i * loss_i): dlogits_i = g_i * (softmax - onehot) per counted row, then
 * dHidden [N, C] = dlogits @ weight and dWeight [V, C] = dlogits^T @ hidden.
 */
export function linearCrossEntropyBackwardRef(
  hidden: Float64Array,
  weight: Float64Array,
  labels: ArrayLike<number>,
  g: ArrayLike<number>,
  { N, C, V, ignoreIndex = -100 }: LinearCrossEntropyRefShape,
): { dHidden: Float64Array; dWeight: Float64Array } {
  const logits = gemmRef(hidden, weight, { m: N, n: V, k: C, transB: true });
  // loss_i = -logp_i, so its gradient is the log-prob gradient with -g.
  const negG = Float64Array.from({ length: N }, (_, i) => -(g[i] as number));
  const dlogits = tokenLogProbsBackwardRef(logits, labels, V, negG, ignoreIndex);
  return {
    dHidden: gemmRef(dlogits, weight, { m: N, n: C, k: V }),
    dWeight: gemmRef(dlogits, hidden, { m: V, n: C, k: N, transA: true }),
  };
}
