/** Float64 references for cross-entropy and per-token log-probabilities (tests only). */

function logSumExp(logits: Float64Array, row: number, V: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < V; c++) max = Math.max(max, logits[row * V + c] as number);
  let sum = 0;
  for (let c = 0; c < V; c++) sum += Math.exp((logits[row * V + c] as number) - max);
  return max + Math.log(sum);
}

/** log softmax(logits[i])[labels[i]] per row [N]; 0 where labels[i] === ignoreIndex. */
export function tokenLogProbsRef(
  logits: Float64Array,
  labels: ArrayLike<number>,
  V: number,
  ignoreIndex = -100,
): Float64Array {
  const N = labels.length;
  const out = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const y = labels[i] as number;
    if (y !== ignoreIndex) out[i] = (logits[i * V + y] as number) - logSumExp(logits, i, V);
  }
  return out;
}

/** d sum_i(g[i] * logp[i]) / d logits: g[i] * (onehot - softmax) per counted row. */
export function tokenLogProbsBackwardRef(
  logits: Float64Array,
  labels: ArrayLike<number>,
  V: number,
  g: ArrayLike<number>,
  ignoreIndex = -100,
): Float64Array {
  const N = labels.length;
  const d = new Float64Array(N * V);
  for (let i = 0; i < N; i++) {
    const y = labels[i] as number;
    if (y === ignoreIndex) continue;
    const lse = logSumExp(logits, i, V);
    const gi = g[i] as number;
    for (let c = 0; c < V; c++) d[i * V + c] = -gi * Math.exp((logits[i * V + c] as number) - lse);
    d[i * V + y] = (d[i * V + y] as number) + gi;
  }
  return d;
}

/** Cross-entropy: the mean (over counted rows; 0 when none) or the sum of -logp. */
export function crossEntropyRef(
  logits: Float64Array,
  labels: ArrayLike<number>,
  V: number,
  { ignoreIndex = -100, reduction = 'mean' }: { ignoreIndex?: number; reduction?: 'mean' | 'sum' } = {},
): number {
  const logp = tokenLogProbsRef(logits, labels, V, ignoreIndex);
  let sum = 0;
  let count = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === ignoreIndex) continue;
    sum -= logp[i] as number;
    count++;
  }
  if (reduction === 'sum') return sum;
  return count === 0 ? 0 : sum / count;
}
