/**
 * The per-token step that generate() (a left-padded batch, one forward per step) and the serving scheduler (one
 * sequence's row of a mixed step) share: rewrite the next-token scores with the request's processors, pick each
 * row's token (repetition penalty, temperature, top-k, top-p: sampling.ts), then append it to its row, tell the
 * caller, and say whether the row ended (a stop id, the caller's stop, max new tokens).
 */
import { Tensor } from '../engine/index.js';
import { type SamplingOptions, selectNextTokens } from './sampling.js';

/** A sequence being decoded: prompt + generated ids, and the generated ones alone. */
export interface DecodeRow {
  readonly history: number[];
  readonly tokens: number[];
}

/**
 * One token per row from scores [R, V] (consumed: disposed here). `processLogits` rewrites a copy of all R rows in
 * place first (penalties, grammar mask); histories and uniforms (one draw in [0, 1) per row) go to the sampler.
 */
export function pickTokens(
  scores: Tensor,
  histories: readonly (readonly number[])[],
  uniforms: Float32Array,
  sampling: SamplingOptions,
  processLogits?: (logits: Float32Array) => void,
): Int32Array {
  let picked = scores;
  if (processLogits) {
    const data = scores.toFloat32Array();
    processLogits(data);
    picked = Tensor.from(data, scores.shape);
    scores.dispose();
  }
  try {
    return selectNextTokens(picked, histories, uniforms, sampling);
  } finally {
    picked.dispose();
  }
}

/**
 * Appends `id` to the row and reports it (onToken returning false ends the row, a thrown error propagates); the
 * row's end: 'stop' (a stop id, included in its tokens as HF's generate does, or onToken's false), 'length' (it holds
 * maxNewTokens), else null.
 */
export function appendToken(
  row: DecodeRow,
  id: number,
  stop: ReadonlySet<number>,
  maxNewTokens: number,
  onToken?: (id: number) => unknown,
): 'stop' | 'length' | null {
  row.tokens.push(id);
  row.history.push(id);
  const keepGoing = onToken?.(id);
  if (stop.has(id) || keepGoing === false) return 'stop';
  return row.tokens.length >= maxNewTokens ? 'length' : null;
}
