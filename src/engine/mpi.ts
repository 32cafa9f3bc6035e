/**
 * The MPI collectives of native/src/dist/mpi.cc over engine tensors. The addon does not link libmpi: `loadMpi`
 * dlopens the library at run time (LMFORGE_MPI_LIB, else the sonames below), so a plain `npm install` needs no MPI.
 * Every collective waits at most `timeoutS` seconds and returns a report instead of waiting forever.
 */
import { native } from './native.js';
import type { Tensor } from './tensor.js';

/** Open MPI's libmpi sonames, newest ABI first (4.x and 5.x are .40). */
export const MPI_SONAMES = ['libmpi.so.40', 'libmpi.so.20', 'libmpi.so.12', 'libmpi.so'];
export const MPI_INSTALL_HINT = 'apt-get install -y openmpi-bin libopenmpi-dev';

/** A collective that did not complete in time; `missing` lists the ranks that never arrived, where known. */
export interface CollectiveTimeout {
  timedOut: true;
  what: string;
  missing?: number[];
}
/** A barrier where a rank came with another sequence number: the ranks are at different steps. */
export interface OutOfStep {
  outOfStep: number;
  theirs: number;
}
export type CollectiveReport = CollectiveTimeout | OutOfStep | null;

export interface MpiInfo {
  rank: number;
  size: number;
  /** MPI_Get_library_version's text. */
  version: string;
  /** The library file that was loaded. */
  library: string;
}

function userError(message: string): Error {
  return Object.assign(new Error(message), { userFacing: true });
}

let loaded: MpiInfo | null = null;

/** Loads and initialises MPI once (MPI_THREAD_FUNNELED); throws one clear error when no usable library is found. */
export function initMpi(): MpiInfo {
  if (loaded) return loaded;
  const override = process.env.LMFORGE_MPI_LIB;
  const candidates = override ? [override] : MPI_SONAMES;
  const failures: string[] = [];
  for (const file of candidates) {
    const why = native.mpiLoad(file) as string | null;
    if (why === null) {
      const info = native.mpiInit() as Omit<MpiInfo, 'library'>;
      loaded = { ...info, library: file };
      return loaded;
    }
    if (why === 'not-open-mpi')
      throw userError(
        `${file} is an MPI library but not Open MPI (MPICH and its derivatives use integer handles lmforge does not bind); install Open MPI (${MPI_INSTALL_HINT}) or point LMFORGE_MPI_LIB at Open MPI's libmpi.so.40`,
      );
    failures.push(`${file}: ${why}`);
  }
  throw userError(
    `distributed training needs Open MPI's library, and none loads (${failures.join('; ')}). Install it with \`${MPI_INSTALL_HINT}\`${override ? ' or fix LMFORGE_MPI_LIB' : ', or set LMFORGE_MPI_LIB to its libmpi.so'}`,
  );
}

/**
 * Sums (or averages) f32 tensors in place over all ranks: tensors below `bucketBytes` are packed into buckets of
 * about that size, one allreduce per bucket (DDP's bucket_cap_mb).
 */
export function allreduceTensors_(
  tensors: readonly Tensor[],
  opts: { average: boolean; bucketBytes: number; timeoutS: number },
): CollectiveReport {
  for (const t of tensors)
    if (t.dtype !== 'f32') throw new Error(`allreduce: ${t.name ?? 'a tensor'} is ${t.dtype}, not f32`);
  return native.mpiAllreduceStorages(
    tensors.map((t) => t.handle),
    tensors.map((t) => t.numel),
    opts.average,
    opts.bucketBytes,
    opts.timeoutS,
  );
}

/**
 * ZeRO-1's partition exchange: tensor i (f32) belongs to rank `owners[i]`; each rank's own tensors are gathered into
 * the others' copies on every rank (`root` -1) or on rank `root` alone. Where a rank does not receive, its copy of a
 * tensor it does not own may be null.
 */
export function gatherPartitions_(
  tensors: readonly (Tensor | null)[],
  counts: readonly number[],
  owners: readonly number[],
  root: number,
  timeoutS: number,
): CollectiveReport {
  for (const t of tensors)
    if (t && t.dtype !== 'f32') throw new Error(`partition gather: ${t.name ?? 'a tensor'} is ${t.dtype}, not f32`);
  return native.mpiGatherStorages(
    tensors.map((t) => t?.handle ?? null),
    counts,
    owners,
    root,
    timeoutS,
  );
}

/** Starts the sum over the ranks of one bucket of f32 gradients (a packed copy; the tensors are not touched yet). */
export function startBucketSum(tensors: readonly Tensor[]): void {
  native.mpiBucketStart(
    tensors.map((t) => t.handle),
    tensors.map((t) => t.numel),
  );
}

/** Lets MPI move the started buckets' messages along (Open MPI progresses them only inside MPI calls). */
export function progressBuckets(): void {
  native.mpiBucketsProgress();
}

/** Waits for every started bucket; with `apply`, writes the sums into the tensors they were started from. */
export function finishBucketSums(apply: boolean, timeoutS: number): CollectiveReport {
  return native.mpiBucketsFinish(apply, timeoutS);
}

/** Sums small host values (losses, token counts) in place over all ranks. */
export function allreduceValues_(values: Float64Array, timeoutS: number): CollectiveReport {
  return native.mpiAllreduceF64(values, timeoutS);
}

/** Copies rank `root`'s tensor into every rank's (same shape and dtype). */
export function broadcastTensor_(t: Tensor, root: number, timeoutS: number): CollectiveReport {
  return native.mpiBroadcastBytes(t.handle, t.byteLength, root, timeoutS);
}

/** Copies rank `root`'s bytes into every rank's buffer (same length). */
export function broadcastBytes_(bytes: Uint8Array, root: number, timeoutS: number): CollectiveReport {
  return native.mpiBroadcastBytes(bytes, bytes.byteLength, root, timeoutS);
}

/** Waits for every rank; `sequence` (the same on every rank) catches ranks that are at different places. */
export function mpiBarrier(sequence: number, timeoutS: number): CollectiveReport {
  return native.mpiBarrier(sequence, timeoutS);
}

/** Ends every rank of the job (mpirun stops the others). */
export function mpiAbort(code: number): never {
  native.mpiAbort(code);
  process.exit(code);
}

export function finalizeMpi(): void {
  if (loaded) native.mpiFinalize();
}
