// Measures this machine's f32 FMA throughput (the GEMM benchmark's "peak"): each thread runs a loop of independent
// FMA chains (enough to cover FMA latency on two ports) with the widest vectors the CPU has.
// usage: fma_peak THREADS  ->  {"isa":"avx512","threads":2,"gflops":...,"gflops_per_core":...}
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITERS 5000000L
#define CHAINS 16

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static volatile float sink;

__attribute__((target("avx512f"))) static double run_avx512(void) {
  __m512 acc[CHAINS], x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < CHAINS; ++i) acc[i] = _mm512_set1_ps((float)i);
  for (long it = 0; it < ITERS; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  __m512 s = acc[0];
  for (int i = 1; i < CHAINS; ++i) s = _mm512_add_ps(s, acc[i]);
  sink = _mm512_reduce_add_ps(s);
  return 2.0 * 16 * CHAINS * ITERS;
}

__attribute__((target("avx2,fma"))) static double run_avx2(void) {
  __m256 acc[CHAINS], x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < CHAINS; ++i) acc[i] = _mm256_set1_ps((float)i);
  for (long it = 0; it < ITERS; ++it)
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  float out[8];
  __m256 s = acc[0];
  for (int i = 1; i < CHAINS; ++i) s = _mm256_add_ps(s, acc[i]);
  _mm256_storeu_ps(out, s);
  sink = out[0];
  return 2.0 * 8 * CHAINS * ITERS;
}

static int use512;
static double flops[64];

static void* worker(void* arg) {
  long id = (long)arg;
  flops[id] = use512 ? run_avx512() : run_avx2();
  return NULL;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  if (threads < 1 || threads > 64) threads = 1;
  __builtin_cpu_init();
  use512 = __builtin_cpu_supports("avx512f");
  if (!use512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
    printf("{\"isa\":\"none\",\"threads\":%d,\"gflops\":0,\"gflops_per_core\":0}\n", threads);
    return 0;
  }
  double best = 0;
  for (int rep = 0; rep < 20; ++rep) {  // best of 20 short runs: on a shared machine some get whole cores
    pthread_t th[64];
    double t0 = now();
    for (long i = 0; i < threads; ++i) pthread_create(&th[i], NULL, worker, (void*)i);
    for (int i = 0; i < threads; ++i) pthread_join(th[i], NULL);
    double dt = now() - t0, total = 0;
    for (int i = 0; i < threads; ++i) total += flops[i];
    if (total / dt > best) best = total / dt;
  }
  printf("{\"isa\":\"%s\",\"threads\":%d,\"gflops\":%.2f,\"gflops_per_core\":%.2f}\n", use512 ? "avx512" : "avx2",
         threads, best * 1e-9, best * 1e-9 / threads);
  return 0;
}
