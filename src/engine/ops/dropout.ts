/**
 * Dropout (native/src/kernels/dropout.cc). The mask is a pure function of (seed, offset + element index), so the
 * backward regenerates it instead of saving it: the gradient is the same kernel applied to the output gradient.
 */
import { record } from '../autograd.js';
import { native } from '../native.js';
import type { Generator } from '../random.js';
import { Tensor } from '../tensor.js';
import { expectF32 } from './check.js';

export interface DropoutOptions {
  /** Identity when false (evaluation). Default true. */
  training?: boolean;
  /** Draws the words the mask reads (advances the generator). Give either this or `seed`. */
  generator?: Generator;
  /** An explicit stream position instead of a generator (replays a mask). */
  seed?: number;
  offset?: number;
}

/**
 * Zeroes each value with probability p and scales the rest by 1 / (1 - p). With p = 0 or training = false it
 * returns `x` itself (no copy, nothing recorded).
 */
export function dropout(x: Tensor, p: number, opts: DropoutOptions = {}): Tensor {
  expectF32('dropout', 'x', x);
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: p must be in [0, 1], got ${p}`);
  if (p === 0 || opts.training === false) return x;
  const { seed, offset } = streamPosition(x.numel, opts);
  const out = Tensor.empty(x.shape);
  native.dropout(x.handle, out.handle, x.numel, p, seed, offset);
  record(out, 'dropout', [x], (g) => {
    const dx = Tensor.empty(g.shape);
    native.dropout(g.handle, dx.handle, g.numel, p, seed, offset);
    return [dx];
  });
  return out;
}

function streamPosition(numel: number, opts: DropoutOptions): { seed: number; offset: number } {
  if (opts.generator) {
    if (opts.seed !== undefined) throw new Error('dropout: give either a generator or a seed, not both');
    return { seed: opts.generator.seed, offset: opts.generator.reserve(numel) };
  }
  if (opts.seed === undefined)
    throw new Error('dropout: training dropout needs { generator } or { seed, offset } to draw its mask');
  const offset = opts.offset ?? 0;
  for (const [k, v] of [
    ['seed', opts.seed],
    ['offset', offset],
  ] as const)
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`dropout: ${k} must be an integer in [0, 2^53), got ${v}`);
  return { seed: opts.seed, offset };
}
