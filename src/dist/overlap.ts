/**
 * DDP's gradient allreduce overlapped with the backward. The trainable weights are cut into buckets of about
 * bucket_cap_mb (25 MiB), in reverse order (the backward finishes the last layers first); as in torch's DDP the
 * first bucket holds at most 1 MiB, so the first allreduce starts early in the backward. During the backward of
 * an update's last micro-batch, a bucket's non-blocking allreduce starts as soon as the backward has completed the
 * gradients of all its weights, and MPI is polled after each backward op so the sums move while the backward
 * computes; the trainer waits for them before the optimizer step (`finish`).
 *
 * Every rank starts the buckets in the same order (bucket k only after buckets 0..k-1, as torch's DDP does), and
 * every bucket is started by the end of the backward (a weight the backward did not reach joins with zeros), so the
 * ranks' collectives always match. If a weight's gradient grows after its bucket started (a second backward over
 * it), the update's buckets are dropped on every rank and the gradients are summed again after the backward.
 */
import { keep, observeBackward, Tensor } from '../engine/index.js';
import type { World } from './world.js';

/** torch.distributed's _DEFAULT_FIRST_BUCKET_BYTES. */
const FIRST_BUCKET_BYTES = 1024 * 1024;

let current: GradientOverlap | null = null;

/** Makes `overlap` the run's (null: none); stages run their update's last backward through `lastBackward`. */
export function useOverlap(overlap: GradientOverlap | null): void {
  current = overlap;
}

/** Runs the update's last backward, overlapping the gradient allreduce with it when the run does. */
export function lastBackward<T>(fn: () => T): T {
  return current ? current.during(fn) : fn();
}

export class GradientOverlap {
  private readonly buckets: Tensor[][];
  private readonly bucketOf = new Map<Tensor, number>();
  private pending: number[] = [];
  private launched = 0;
  private armed = false;
  private stale = false;

  constructor(
    private readonly world: World,
    private readonly weights: readonly Tensor[],
    bucketBytes: number,
  ) {
    this.buckets = [];
    let bytes = 0;
    for (const w of [...weights].reverse()) {
      const last = this.buckets.at(-1);
      const cap = this.buckets.length === 1 ? Math.min(FIRST_BUCKET_BYTES, bucketBytes) : bucketBytes;
      if (!last || bytes + w.numel * 4 > cap) {
        this.buckets.push([w]);
        bytes = w.numel * 4;
      } else {
        last.push(w);
        bytes += w.numel * 4;
      }
      this.bucketOf.set(w, this.buckets.length - 1);
    }
  }

  get bucketCount(): number {
    return this.buckets.length;
  }

  /** Runs the update's last backward (`fn`) with its buckets' allreduces started as their gradients complete. */
  during<T>(fn: () => T): T {
    this.armed = true;
    this.stale = false;
    this.launched = 0;
    this.pending = this.buckets.map((b) => b.length);
    const prev = observeBackward({
      leafDone: (leaf) => this.leafDone(leaf),
      opDone: () => {
        if (this.launched > 0) this.world.progress();
      },
    });
    try {
      return fn();
    } finally {
      observeBackward(prev);
      this.launchReady(true);
    }
  }

  /** True when `during` ran for this update and `finish` has not yet ended it. */
  get active(): boolean {
    return this.armed;
  }

  /** Waits for the buckets and leaves every weight's gradient summed over the ranks. */
  finish(): void {
    this.armed = false;
    const stale = (this.world.sumValues([this.stale ? 1 : 0])[0] as number) > 0;
    this.world.finishSums_(!stale);
    if (stale) this.world.sumTensors_(this.weights.map((w) => w.grad as Tensor));
  }

  private leafDone(leaf: Tensor): void {
    const k = this.bucketOf.get(leaf);
    if (k === undefined) return;
    if (k < this.launched || (this.pending[k] as number) <= 0) {
      this.stale = true;
      return;
    }
    this.pending[k] = (this.pending[k] as number) - 1;
    this.launchReady(false);
  }

  /** Starts the buckets in order while the next one is complete (or, at the end, whatever is left). */
  private launchReady(all: boolean): void {
    while (this.launched < this.buckets.length && (all || this.pending[this.launched] === 0)) {
      const bucket = this.buckets[this.launched] as Tensor[];
      for (const w of bucket) w.grad ??= keep(Tensor.zeros(w.shape));
      this.world.startSum(bucket.map((w) => w.grad as Tensor));
      this.launched++;
    }
  }
}
