/* The peer of `npm run bench -- ddp`: a plain MPI_Allreduce loop (in place, f32 sum) over one buffer of `bytes`,
 * as the MPI library itself runs it. Rank 0 prints {"bytes", "seconds_per_op"} as one JSON line. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  long bytes = argc > 1 ? atol(argv[1]) : 1 << 20;
  int iters = argc > 2 ? atoi(argv[2]) : 20;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int n = (int)(bytes / 4);
  float* buf = malloc((size_t)n * sizeof(float));
  for (int i = 0; i < n; i++) buf[i] = 1.0f;
  MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); /* warm-up */
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  for (int i = 0; i < iters; i++) MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  double t = (MPI_Wtime() - t0) / iters;
  if (rank == 0) printf("{\"bytes\": %ld, \"seconds_per_op\": %.9f}\n", bytes, t);
  free(buf);
  MPI_Finalize();
  return 0;
}
