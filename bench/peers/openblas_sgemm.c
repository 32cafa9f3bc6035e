// Times OpenBLAS cblas_sgemm (row-major) for the GEMM benchmark (bench/gemm.ts); compiled at bench time into
// bench/.peers/ and never linked into lmforge. Thread count comes from OPENBLAS_NUM_THREADS.
// usage: openblas_sgemm REPS M,N,K,transA,transB [...]   ->  one JSON line: [{"m":..,"best_s":..,"median_s":..}, ...]
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s REPS M,N,K,transA,transB ...\n", argv[0]);
    return 2;
  }
  int reps = atoi(argv[1]);
  printf("[");
  for (int s = 2; s < argc; ++s) {
    long m, n, k;
    int ta, tb;
    if (sscanf(argv[s], "%ld,%ld,%ld,%d,%d", &m, &n, &k, &ta, &tb) != 5) {
      fprintf(stderr, "bad shape %s\n", argv[s]);
      return 2;
    }
    float* a = malloc(sizeof(float) * m * k);
    float* b = malloc(sizeof(float) * k * n);
    float* c = malloc(sizeof(float) * m * n);
    unsigned seed = 1;
    for (long i = 0; i < m * k; ++i) a[i] = (float)((seed = seed * 1103515245u + 12345u) >> 8) / (1u << 24) - 0.5f;
    for (long i = 0; i < k * n; ++i) b[i] = (float)((seed = seed * 1103515245u + 12345u) >> 8) / (1u << 24) - 0.5f;
    double* t = malloc(sizeof(double) * reps);
    for (int r = -1; r < reps; ++r) {  // r = -1: warm-up
      double t0 = now();
      cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.f, a,
                  ta ? m : k, b, tb ? k : n, 0.f, c, n);
      if (r >= 0) t[r] = now() - t0;
    }
    qsort(t, reps, sizeof(double), cmp);
    printf("%s{\"m\":%ld,\"n\":%ld,\"k\":%ld,\"transA\":%d,\"transB\":%d,\"best_s\":%.9f,\"median_s\":%.9f}",
           s > 2 ? "," : "", m, n, k, ta, tb, t[0], t[reps / 2]);
    free(a);
    free(b);
    free(c);
    free(t);
  }
  printf("]\n");
  return 0;
}
