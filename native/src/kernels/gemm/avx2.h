// AVX2 + FMA GEMM path: a 6x16 micro-kernel (12 ymm accumulators, two 8-float loads of B and 6 broadcasts of A per
// k step). Packing is the scalar code of portable.h (same panel layouts). Compiled per function with a target
// attribute, so the binary still runs on plain x86-64.
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#include "kernels/gemm/portable.h"

#define LMF_AVX2 __attribute__((target("avx2,fma")))

namespace lmf::gemm_avx2 {

constexpr int MR = 6, NR = 16;

// C[R x cols] = alpha * Ap @ Bp + (beta == 0 ? 0 : beta * C) (+ bias); R is compile-time to keep the
// accumulators in registers. A partial-width tile (cols < NR) goes through a stack tile and the scalar epilogue.
template <int R>
LMF_AVX2 void kernel(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* c, int64_t ldc,
                     int cols, float alpha, float beta, const float* bias) {
  __m256 acc0[R], acc1[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    acc0[r] = _mm256_setzero_ps();
    acc1[r] = _mm256_setzero_ps();
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
  }
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      __m256 av = _mm256_broadcast_ss(ap + r);
      acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
    }
    ap += MR;
    bp += NR;
  }
  if (cols < NR) {
    alignas(32) float tile[MR * NR];
    // Unrolled like every loop over the accumulators: an indexed access would keep them in memory.
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      _mm256_store_ps(tile + r * NR, acc0[r]);
      _mm256_store_ps(tile + r * NR + 8, acc1[r]);
    }
    gemm_portable::store_tile<NR>(tile, R, cols, c, ldc, alpha, beta, bias);
    return;
  }
  __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  __m256 bias0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
  __m256 bias1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    float* row = c + r * ldc;
    __m256 c0 = bias0, c1 = bias1;
    if (beta == 1.f) {
      c0 = _mm256_add_ps(c0, _mm256_loadu_ps(row));
      c1 = _mm256_add_ps(c1, _mm256_loadu_ps(row + 8));
    } else if (beta != 0.f) {
      c0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row), c0);
      c1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row + 8), c1);
    }
    _mm256_storeu_ps(row, _mm256_fmadd_ps(va, acc0[r], c0));
    _mm256_storeu_ps(row + 8, _mm256_fmadd_ps(va, acc1[r], c1));
  }
}

using KernelFn = void (*)(int64_t, const float*, const float*, float*, int64_t, int, float, float, const float*);
inline KernelFn kernel_for_rows(int rows) {
  static const KernelFn table[MR + 1] = {nullptr, kernel<1>, kernel<2>, kernel<3>, kernel<4>, kernel<5>, kernel<6>};
  return table[rows];
}

}  // namespace lmf::gemm_avx2
#endif
