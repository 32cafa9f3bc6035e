/**
 * The process group a training run belongs to (torch.distributed's default group): one process, or the ranks of an
 * `mpirun` job. A process is one rank for its whole life, so the world is process-wide: `joinWorld` once at the start
 * of a run, `currentWorld()` wherever a rank needs to know who it is.
 *
 * Every collective waits at most ddp_timeout seconds. When one does not complete, this rank prints which rank it
 * waited for and what the user can do, and aborts the job (mpirun ends the other ranks): a dead or hung rank never
 * leaves the others waiting forever. Saves happen between collectives and are atomic, so the last checkpoint is
 * whole and the same command resumes from it.
 */
import { availableParallelism } from 'node:os';
import { physicalCores, type Tensor } from '../engine/index.js';
import {
  allreduceTensors_,
  allreduceValues_,
  broadcastBytes_,
  broadcastTensor_,
  type CollectiveReport,
  finalizeMpi,
  finishBucketSums,
  gatherPartitions_,
  initMpi,
  mpiAbort,
  mpiBarrier,
  progressBuckets,
  startBucketSum,
} from '../engine/mpi.js';
import { launchedRank } from './environment.js';

/** DDP's default bucket_cap_mb: 25 MiB buckets of gradients per allreduce. */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

export interface World {
  readonly rank: number;
  readonly size: number;
  /** This rank's place among the ranks of its node, and how many the node runs. */
  readonly localRank: number;
  readonly localSize: number;
  /** Rank 0 alone writes files (logs, plots, checkpoints, results). */
  readonly isMain: boolean;
  /** Sums f32 tensors in place over the ranks (bucketed). */
  sumTensors_(tensors: readonly Tensor[]): void;
  /** Starts a non-blocking sum of one bucket of f32 tensors (overlap.ts); `progress` drives it, `finishSums_` ends. */
  startSum(tensors: readonly Tensor[]): void;
  progress(): void;
  /** Waits for the started sums; with `apply`, writes them into their tensors. */
  finishSums_(apply: boolean): void;
  /** Sums small values over the ranks. */
  sumValues(values: readonly number[]): number[];
  /**
   * ZeRO-1: tensor i belongs to rank owners[i]; the owners' values are copied into every other rank's tensors
   * (`toMain`: into rank 0's alone; the other ranks may pass null for tensors they neither own nor receive).
   */
  gatherPartitions_(
    tensors: readonly (Tensor | null)[],
    counts: readonly number[],
    owners: readonly number[],
    toMain: boolean,
  ): void;
  /** Rank 0's tensor values on every rank. */
  broadcastTensor_(t: Tensor): void;
  /** Rank 0's result of `fn` (JSON) on every rank; an error thrown on rank 0 is thrown on every rank. */
  fromMain<T>(fn: () => T): T;
  /** Every rank's `value` (JSON), in rank order, on every rank. */
  gather<T>(value: T): T[];
  /** Waits for every rank; `what` names the place in messages ("step 3's gradient sync"). */
  barrier(what: string): void;
  /** What a timeout message adds after naming the rank (the last checkpoint, how to resume). */
  afterTimeout: () => string;
}

class SingleProcess implements World {
  readonly rank = 0;
  readonly size = 1;
  readonly localRank = 0;
  readonly localSize = 1;
  readonly isMain = true;
  afterTimeout = () => '';
  sumTensors_(): void {}
  startSum(): void {}
  progress(): void {}
  finishSums_(): void {}
  sumValues(values: readonly number[]): number[] {
    return [...values];
  }
  broadcastTensor_(): void {}
  gatherPartitions_(): void {}
  fromMain<T>(fn: () => T): T {
    return fn();
  }
  gather<T>(value: T): T[] {
    return [value];
  }
  barrier(): void {}
}

class MpiWorld implements World {
  readonly isMain: boolean;
  afterTimeout = () => '';
  private barriers = 0;
  constructor(
    readonly rank: number,
    readonly size: number,
    readonly localRank: number,
    readonly localSize: number,
    readonly timeoutS: number,
    readonly bucketBytes: number,
  ) {
    this.isMain = rank === 0;
  }

  sumTensors_(tensors: readonly Tensor[]): void {
    this.check(
      allreduceTensors_(tensors, { average: false, bucketBytes: this.bucketBytes, timeoutS: this.timeoutS }),
      'the gradient allreduce',
    );
  }

  startSum(tensors: readonly Tensor[]): void {
    startBucketSum(tensors);
  }

  progress(): void {
    progressBuckets();
  }

  finishSums_(apply: boolean): void {
    this.check(finishBucketSums(apply, this.timeoutS), 'the gradient allreduce');
  }

  sumValues(values: readonly number[]): number[] {
    const buf = Float64Array.from(values);
    this.check(allreduceValues_(buf, this.timeoutS), 'a value allreduce');
    return [...buf];
  }

  gatherPartitions_(
    tensors: readonly (Tensor | null)[],
    counts: readonly number[],
    owners: readonly number[],
    toMain: boolean,
  ): void {
    this.check(
      gatherPartitions_(tensors, counts, owners, toMain ? 0 : -1, this.timeoutS),
      toMain ? 'the gather of the optimizer state to rank 0' : 'the exchange of updated weights',
    );
  }

  broadcastTensor_(t: Tensor): void {
    this.check(broadcastTensor_(t, 0, this.timeoutS), 'a weight broadcast from rank 0');
  }

  fromMain<T>(fn: () => T): T {
    return this.fromRank(0, fn);
  }

  gather<T>(value: T): T[] {
    return Array.from({ length: this.size }, (_, r) => this.fromRank(r, () => value));
  }

  private fromRank<T>(root: number, fn: () => T): T {
    const isRoot = this.rank === root;
    let payload = '';
    if (isRoot) {
      try {
        payload = JSON.stringify({ ok: fn() ?? null });
      } catch (e) {
        payload = JSON.stringify({
          error: (e as Error).message,
          userFacing: Boolean((e as { userFacing?: boolean }).userFacing),
        });
      }
    }
    const bytes = new TextEncoder().encode(payload);
    const length = this.sumValues([isRoot ? bytes.byteLength : 0])[0] as number;
    const buf = isRoot ? bytes : new Uint8Array(length);
    this.check(broadcastBytes_(buf, root, this.timeoutS), `a broadcast from rank ${root}`);
    const got = JSON.parse(new TextDecoder().decode(buf)) as { ok?: T; error?: string; userFacing?: boolean };
    if (got.error !== undefined) throw Object.assign(new Error(got.error), { userFacing: got.userFacing });
    return got.ok as T;
  }

  barrier(what: string): void {
    this.barriers++;
    const report = mpiBarrier(this.barriers, this.timeoutS);
    if (report === null) return;
    if ('outOfStep' in report)
      this.fail(
        `rank ${report.outOfStep} is at another point of the run than rank 0 at ${what} (barrier ${report.theirs} vs ${this.barriers}): the ranks run different configurations or data`,
      );
    this.check(report, what);
  }

  private check(report: CollectiveReport, what: string): void {
    if (report === null) return;
    if ('outOfStep' in report) {
      this.fail(`rank ${report.outOfStep} came to ${what} from another place of the run`);
    }
    const who = report.missing?.length
      ? `rank${report.missing.length > 1 ? 's' : ''} ${report.missing.join(', ')} did not reach ${what}`
      : `another rank did not reach ${what}`;
    this.fail(
      `${who} within ddp_timeout (${this.timeoutS} s): it died or hangs. Ending the job.${this.afterTimeout()}`,
    );
  }

  private fail(message: string): never {
    process.stderr.write(`[lmforge] rank ${this.rank}/${this.size}: ${message}\n`);
    mpiAbort(1);
  }
}

let world: World = new SingleProcess();

export function currentWorld(): World {
  return world;
}

/**
 * Joins the mpirun job this process was started in (a single-process world otherwise) and returns it. Under mpirun
 * each rank's engine takes its share of the node's cores unless `threads` is set.
 */
export function joinWorld(opts: { timeoutS: number; bucketBytes?: number }): World {
  if (world.size > 1) return world;
  const launched = launchedRank();
  if (!launched || launched.size === 1) return world;
  const info = initMpi();
  // A rank that ends well finalises MPI; one that fails ends the job at once rather than leave the others waiting
  // in a collective until ddp_timeout.
  process.on('exit', (code) => (code === 0 ? finalizeMpi() : mpiAbort(code)));
  world = new MpiWorld(
    info.rank,
    info.size,
    launched.localRank,
    launched.localSize,
    opts.timeoutS,
    opts.bucketBytes ?? DEFAULT_BUCKET_BYTES,
  );
  return world;
}

/**
 * Engine threads for one rank: the cores its binding gave it (mpirun --bind-to core/socket), else an even share of
 * the node's physical cores among the node's ranks; at least one.
 */
export function threadsPerRank(localSize: number): number {
  const cores = physicalCores();
  const given = availableParallelism();
  if (given < cores) return Math.max(1, given);
  return Math.max(1, Math.floor(cores / Math.max(1, localSize)));
}
