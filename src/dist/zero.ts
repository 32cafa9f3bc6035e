/**
 * DeepSpeed ZeRO stage 1 (`zero_optimization.stage: 1`) on the MPI backend: the optimizer state is sharded over the
 * ranks. The trainable parameters, in the optimizer's flat order, are cut into one contiguous run per rank balanced
 * by element count; each rank keeps AdamW's moments (or SGD's momentum) for its run only. After the gradients are
 * averaged (allreduce, as DDP: every rank then holds the whole gradient, so clipping uses the global norm), each rank
 * updates its run and the updated runs are all-gathered (MPI_Iallgatherv) so every rank holds the whole model again.
 *
 * Checkpoints keep the single-process format: before a save, rank 0 gathers the other runs' state (MPI_Igatherv)
 * and writes it all; on resume each rank reads the checkpoint and keeps its own run's state.
 */
import { Tensor } from '../engine/index.js';
import type { AdamW, OptimizerStateDict, SGD } from '../train/optimizers.js';
import type { World } from './world.js';

/**
 * The owning rank of each parameter: contiguous runs in flat order, a parameter going to the rank whose equal share
 * of all elements holds its middle element (so the runs differ by at most about one parameter's size).
 */
export function partitionByElements(numels: readonly number[], ranks: number): number[] {
  const total = numels.reduce((a, n) => a + n, 0);
  let before = 0;
  return numels.map((n) => {
    const middle = before + n / 2;
    before += n;
    return total === 0 ? 0 : Math.min(ranks - 1, Math.floor((middle * ranks) / total));
  });
}

/** One state buffer of one parameter, as the ranks list them for a gather. */
interface BufferEntry {
  index: number;
  name: string;
  numel: number;
  step: number;
}

export class ZeroOneOptimizer {
  private readonly params: Tensor[];
  private readonly counts: number[];
  /** owners[i]: the rank that updates params[i] and keeps its state. */
  readonly owners: number[];
  /** The other ranks' state, gathered on rank 0 for the next save (gatherForSave). */
  private gathered: OptimizerStateDict['state'] | null = null;

  constructor(
    readonly inner: AdamW | SGD,
    private readonly world: World,
  ) {
    this.params = inner.params;
    this.counts = this.params.map((p) => p.numel);
    this.owners = partitionByElements(this.counts, world.size);
  }

  get paramGroups(): (AdamW | SGD)['paramGroups'] {
    return this.inner.paramGroups;
  }

  private owns(i: number): boolean {
    return this.owners[i] === this.world.rank;
  }

  /** Updates this rank's run (the others' gradients are set aside, so no state is made for them), then all-gathers. */
  step(): void {
    const aside: [Tensor, Tensor][] = [];
    this.params.forEach((p, i) => {
      if (this.owns(i) || !p.grad) return;
      aside.push([p, p.grad]);
      p.grad = null;
    });
    try {
      this.inner.step();
    } finally {
      for (const [p, g] of aside) p.grad = g;
    }
    this.world.gatherPartitions_(this.params, this.counts, this.owners, false);
  }

  zeroGrad(opts?: { setToNone?: boolean }): void {
    this.inner.zeroGrad(opts);
  }

  /** Bytes of optimizer state this rank holds. */
  stateBytes(): number {
    let bytes = 0;
    for (const p of this.params)
      for (const t of Object.values(this.inner.stateOfParam(p)?.buffers ?? {})) bytes += t.byteLength;
    return bytes;
  }

  /**
   * Collective (every rank calls it before rank 0 saves): rank 0 receives the other runs' state buffers and step
   * counts, held until the next stateDict().
   */
  gatherForSave(): void {
    const mine: BufferEntry[] = [];
    this.params.forEach((p, index) => {
      const s = this.owns(index) ? this.inner.stateOfParam(p) : undefined;
      if (!s) return;
      const names = Object.keys(s.buffers);
      // A parameter stepped without buffers (SGD without momentum) still has its step count.
      if (names.length === 0) mine.push({ index, name: '', numel: 0, step: s.step });
      for (const name of names) mine.push({ index, name, numel: (s.buffers[name] as Tensor).numel, step: s.step });
    });
    const listed = this.world.gather(mine);
    const entries = listed.flatMap((l, rank) => l.map((e) => ({ ...e, rank })));
    const withData = entries.filter((e) => e.name !== '');
    const received: (Tensor | null)[] = withData.map((e) => {
      if (e.rank === this.world.rank)
        return this.inner.stateOfParam(this.params[e.index] as Tensor)?.buffers[e.name] as Tensor;
      return this.world.isMain ? Tensor.zeros([e.numel]) : null;
    });
    try {
      this.world.gatherPartitions_(
        received,
        withData.map((e) => e.numel),
        withData.map((e) => e.rank),
        true,
      );
      if (!this.world.isMain) return;
      const state: OptimizerStateDict['state'] = {};
      for (const e of entries) {
        if (e.rank === this.world.rank) continue;
        state[e.index] ??= { step: e.step, buffers: {} };
      }
      withData.forEach((e, k) => {
        if (e.rank === this.world.rank) return;
        (state[e.index] as OptimizerStateDict['state'][number]).buffers[e.name] = (
          received[k] as Tensor
        ).toFloat32Array();
      });
      this.gathered = state;
    } finally {
      withData.forEach((e, k) => {
        if (e.rank !== this.world.rank) received[k]?.dispose();
      });
    }
  }

  /** Rank 0, after gatherForSave: the whole run's state, as one process's optimizer would give it. */
  stateDict(): OptimizerStateDict {
    if (!this.gathered)
      throw new Error('ZeRO-1: the optimizer state was not gathered to rank 0 before this save (gatherForSave)');
    const sd = this.inner.stateDict();
    const state = { ...sd.state, ...this.gathered };
    this.gathered = null;
    return { ...sd, state };
  }

  /** Every rank reads the whole checkpoint's state and keeps its own run's. */
  loadStateDict(sd: OptimizerStateDict): void {
    const state: OptimizerStateDict['state'] = {};
    for (const [key, s] of Object.entries(sd.state)) if (this.owns(Number(key))) state[Number(key)] = s;
    this.inner.loadStateDict({ ...sd, state });
  }

  dispose(): void {
    this.inner.dispose();
  }
}
