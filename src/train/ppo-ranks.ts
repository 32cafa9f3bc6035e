/**
 * PPO under mpirun. A global PPO batch is cut into global mini-batches of per_device_train_batch_size x world size
 * prompts, and rank r takes the r-th per-device slice of each (rank-shard.ts): it generates, scores and runs the
 * no-tape passes of its share. The ranks then exchange their experience, so every rank holds the whole batch and
 * computes the rewards, the whitened advantages, the KL and the logged means over all of it exactly as one process
 * would; in the PPO epochs each rank again takes its slice of each shuffled global mini-batch and the gradients are
 * summed (each rank's loss is normalised by the global mini-batch's token count, so the sum is one process's).
 *
 * The value head's dropout draws its mask from the policy's generator; a rank's rows get the words one process
 * would give them (the offset of the rows before them in the global mini-batch), so dropout matches one process too.
 */
import type { World } from '../dist/world.js';
import { Generator } from '../engine/index.js';

/** This rank's items of a global list made of global mini-batches of `perDevice` x world items, in order. */
export function rankShare<T>(global: readonly T[], world: Pick<World, 'rank' | 'size'>, perDevice: number): T[] {
  const width = perDevice * world.size;
  const mine: T[] = [];
  for (let k = 0; k < global.length; k += width) {
    const from = k + world.rank * perDevice;
    mine.push(...global.slice(from, Math.min(from + perDevice, k + width)));
  }
  return mine;
}

/** The inverse of rankShare: every rank's share (in rank order) interleaved back into the global order. */
export function mergeShares<T>(shares: readonly (readonly T[])[], perDevice: number): T[] {
  const out: T[] = [];
  const chunks = Math.max(...shares.map((s) => Math.ceil(s.length / perDevice)));
  for (let k = 0; k < chunks; k++)
    for (const share of shares) out.push(...share.slice(k * perDevice, (k + 1) * perDevice));
  return out;
}

/** Every rank's share of a list of per-token rows, merged into the global order on every rank. */
export function exchangeRows(world: World, mine: readonly ArrayLike<number>[], perDevice: number): Float64Array[] {
  if (world.size === 1) return mine.map((r) => Float64Array.from(r));
  const shares = world.gather(mine.map((r) => Array.from(r)));
  return mergeShares(shares, perDevice).map((r) => Float64Array.from(r));
}

/**
 * A generator for this rank's rows of one global mini-batch: the policy's generator reserves the words the whole
 * mini-batch's dropout mask takes ([tokens, hidden]), and this rank's rows start where the rows before them end.
 * `tokens` holds the response length of every row of the global mini-batch; this rank's rows are [from, to).
 */
export function rowsGenerator(rng: Generator, tokens: readonly number[], from: number, hidden: number): Generator {
  const total = tokens.reduce((a, b) => a + b, 0);
  const start = rng.reserve(total * hidden);
  const before = tokens.slice(0, from).reduce((a, b) => a + b, 0);
  return new Generator(rng.seed, start + before * hidden);
}
