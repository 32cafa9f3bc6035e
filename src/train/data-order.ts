/**
 * The order examples are seen in: one seeded permutation per epoch (or the dataset order with disable_shuffling),
 * cut into micro-batches, grouped into optimizer updates of gradient_accumulation_steps micro-batches. The position
 * is derived from global_step alone, so a resumed run continues with exactly the batches it would have seen.
 */

/** mulberry32 seeded from (seed, epoch): the same permutation on every machine and every resume. */
function rng(seed: number, epoch: number): () => number {
  let s = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(epoch + 1, 0xc2b2ae35)) >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class DataOrder {
  constructor(
    readonly size: number,
    readonly batchSize: number,
    readonly accumulation: number,
    readonly seed: number,
    readonly shuffle: boolean,
  ) {
    if (size === 0) throw new Error('the training set is empty');
  }

  /** Micro-batches per epoch (the last may be short: HF's dataloader keeps it). */
  get batchesPerEpoch(): number {
    return Math.ceil(this.size / this.batchSize);
  }

  /** Optimizer updates per epoch (a last partial accumulation group is an update too). */
  get updatesPerEpoch(): number {
    return Math.max(1, Math.ceil(this.batchesPerEpoch / this.accumulation));
  }

  /** Example indices in the order epoch `epoch` visits them (Fisher-Yates). */
  permutation(epoch: number): Int32Array {
    const order = Int32Array.from({ length: this.size }, (_, i) => i);
    if (!this.shuffle) return order;
    const next = rng(this.seed, epoch);
    for (let i = this.size - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      const t = order[i] as number;
      order[i] = order[j] as number;
      order[j] = t;
    }
    return order;
  }

  /** The micro-batches (example indices) of update `step` (0-based, counted over the whole run). */
  update(step: number): { epoch: number; microBatches: number[][] } {
    const epoch = Math.floor(step / this.updatesPerEpoch);
    const group = step % this.updatesPerEpoch;
    const order = this.permutation(epoch);
    const microBatches: number[][] = [];
    for (let m = group * this.accumulation; m < Math.min((group + 1) * this.accumulation, this.batchesPerEpoch); m++)
      microBatches.push([...order.subarray(m * this.batchSize, Math.min((m + 1) * this.batchSize, this.size))]);
    return { epoch, microBatches };
  }
}
