/**
 * Cross-entropy over a vocabulary and per-token log-probabilities (native/src/kernels/cross_entropy.cc), forward
 * and backward side by side. Logits are 2-d: flatten [B, T, V] to [B*T, V] with reshape (a view, no copy).
 *
 *   crossEntropy(logits [N, V], labels i32 [N], { ignoreIndex = -100, reduction = 'mean' }) -> scalar []
 *   crossEntropyPerRow(logits [N, V], labels i32 [N], { ignoreIndex }) -> [N]   (0 for ignored rows)
 *   tokenLogProbs(logits [N, V], labels i32 [N], { ignoreIndex }) -> [N]        (log softmax at the label, 0 ignored)
 *   shiftLabels(labels i32 [B, T], ignoreIndex) -> i32 [B, T]                   (labels[:, 1:] then ignoreIndex)
 *
 * 'mean' divides by the counted rows (label != ignoreIndex), as torch's CrossEntropyLoss does; with no counted row
 * the loss is 0 and the gradient zero (torch gives NaN). 'sum' is for gradient accumulation: the trainer divides
 * by the token count of the whole accumulated batch. The total is summed in float64 in row order, so it does not
 * depend on the thread count. The forward saves one logsumexp per row; the backward rebuilds the softmax from it.
 */
import { record } from '../autograd.js';
import { native } from '../native.js';
import { formatShape, Tensor } from '../tensor.js';
import { expectF32, expectRank } from './check.js';

export interface CrossEntropyOptions {
  /** Label value that marks a row as not counted (default -100, as HF and torch use). */
  ignoreIndex?: number;
  /** 'mean' over counted rows (default) or 'sum'. */
  reduction?: 'mean' | 'sum';
}

/** Scalar cross-entropy loss of logits [N, V] against labels i32 [N]. */
export function crossEntropy(logits: Tensor, labels: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const reduction = opts.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum')
    throw new Error(`${op}: reduction must be 'mean' or 'sum', got '${String(reduction)}'`);
  const { N, V, count } = checkInputs(op, logits, labels, ignoreIndex);
  const lse = Tensor.empty([N]);
  const rowLoss = Tensor.empty([N]);
  const total: number = native.crossEntropyForward(
    logits.handle,
    labels.handle,
    lse.handle,
    rowLoss.handle,
    N,
    V,
    ignoreIndex,
    1,
  );
  rowLoss.dispose();
  const divisor = reduction === 'mean' ? count : 1;
  const out = Tensor.scalar(divisor === 0 ? 0 : total / divisor);
  const recorded = record(out, op, [logits], (g) => {
    const coef = divisor === 0 ? 0 : g.item() / divisor;
    const d = Tensor.empty(logits.shape);
    native.crossEntropyBackward(logits.handle, labels.handle, lse.handle, null, coef, d.handle, N, V, ignoreIndex);
    return [d];
  });
  if (!recorded) lse.dispose();
  return out;
}

/** Per-row cross-entropy [N] (-log softmax at the label; 0 for ignored rows). */
export function crossEntropyPerRow(logits: Tensor, labels: Tensor, opts: { ignoreIndex?: number } = {}): Tensor {
  return perRow('crossEntropyPerRow', logits, labels, opts.ignoreIndex ?? -100, 1);
}

/** log softmax(logits[i])[labels[i]] per row [N]; 0 for ignored rows (sum a response's rows for DPO/KTO/PPO). */
export function tokenLogProbs(logits: Tensor, labels: Tensor, opts: { ignoreIndex?: number } = {}): Tensor {
  return perRow('tokenLogProbs', logits, labels, opts.ignoreIndex ?? -100, -1);
}

/** HF causal-LM shift: out[b, t] = labels[b, t + 1], out[b, T - 1] = ignoreIndex; logits[t] then predicts out[t]. */
export function shiftLabels(labels: Tensor, ignoreIndex = -100): Tensor {
  if (labels.dtype !== 'i32' || labels.ndim !== 2)
    throw new Error(`shiftLabels: labels must be i32 [B, T], got ${labels.dtype} ${formatShape(labels.shape)}`);
  const [B, T] = labels.shape as [number, number];
  const src = labels.toInt32Array();
  const dst = new Int32Array(B * T).fill(ignoreIndex);
  for (let b = 0; b < B; b++) dst.set(src.subarray(b * T + 1, (b + 1) * T), b * T);
  return Tensor.from(dst, [B, T], 'i32');
}

// sign = 1: rows are -logp (loss); sign = -1: rows are logp. d row_i / d logits_i = -sign * (onehot - softmax).
function perRow(op: string, logits: Tensor, labels: Tensor, ignoreIndex: number, sign: 1 | -1): Tensor {
  const { N, V } = checkInputs(op, logits, labels, ignoreIndex);
  const lse = Tensor.empty([N]);
  const out = Tensor.empty([N]);
  native.crossEntropyForward(logits.handle, labels.handle, lse.handle, out.handle, N, V, ignoreIndex, sign);
  const recorded = record(out, op, [logits], (g) => {
    const d = Tensor.empty(logits.shape);
    native.crossEntropyBackward(logits.handle, labels.handle, lse.handle, g.handle, sign, d.handle, N, V, ignoreIndex);
    return [d];
  });
  if (!recorded) lse.dispose();
  return out;
}

/** Validates shapes and every label (in [0, V) or ignoreIndex); returns the sizes and the counted rows. */
function checkInputs(
  op: string,
  logits: Tensor,
  labels: Tensor,
  ignoreIndex: number,
): { N: number; V: number; count: number } {
  expectF32(op, 'logits', logits);
  expectRank(op, 'logits [N, V]', logits, 2);
  const [N, V] = logits.shape as [number, number];
  if (V === 0) throw new Error(`${op}: logits ${formatShape(logits.shape)} have an empty vocabulary`);
  return { N, V, count: countLabels(op, labels, N, V, ignoreIndex, 'logits row') };
}

/**
 * Checks labels (i32 [N], each in [0, V) or ignoreIndex) and returns how many are counted. Shared by the ops that
 * take class labels (cross-entropy, linear cross-entropy), so a bad label gets the same advice everywhere.
 */
export function countLabels(
  op: string,
  labels: Tensor,
  N: number,
  V: number,
  ignoreIndex: number,
  rowName: string,
): number {
  if (labels.dtype !== 'i32' || labels.ndim !== 1 || labels.shape[0] !== N)
    throw new Error(
      `${op}: labels must be i32 [${N}] (one per ${rowName}), got ${labels.dtype} ${formatShape(labels.shape)}`,
    );
  if (!Number.isInteger(ignoreIndex)) throw new Error(`${op}: ignoreIndex must be an integer, got ${ignoreIndex}`);
  const ys = labels.toInt32Array();
  let count = 0;
  for (let i = 0; i < N; i++) {
    const y = ys[i] as number;
    if (y === ignoreIndex) continue;
    if (y < 0 || y >= V)
      throw new Error(
        `${op}: labels[${i}] = ${y} is outside the vocabulary [0, ${V}) and is not ignoreIndex (${ignoreIndex}); check that the tokenizer matches the model's vocab_size`,
      );
    count++;
  }
  return count;
}
