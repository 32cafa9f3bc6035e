/**
 * Where a launcher tells a process it is one rank of a job: Open MPI's mpirun sets OMPI_COMM_WORLD_*; PMIx-based
 * launchers (Open MPI 5, srun --mpi=pmix) set PMIX_RANK with OMPI_COMM_WORLD_* too. torchrun's variables (RANK,
 * WORLD_SIZE) are not read: lmforge's collectives run over MPI, and a torchrun job has no MPI world to join.
 */

export interface LaunchedRank {
  rank: number;
  size: number;
  localRank: number;
  localSize: number;
}

function intEnv(name: string): number | null {
  const v = process.env[name];
  if (v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : null;
}

/** This process's place in an mpirun job, or null when it was not started by mpirun. */
export function launchedRank(): LaunchedRank | null {
  const rank = intEnv('OMPI_COMM_WORLD_RANK');
  const size = intEnv('OMPI_COMM_WORLD_SIZE');
  if (rank === null || size === null) return null;
  return {
    rank,
    size,
    localRank: intEnv('OMPI_COMM_WORLD_LOCAL_RANK') ?? 0,
    localSize: intEnv('OMPI_COMM_WORLD_LOCAL_SIZE') ?? 1,
  };
}
