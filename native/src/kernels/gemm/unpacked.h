// The drivers of the unpacked GEMM products (a side of at most 16; kernels in gemm/avx512.h and gemm/avx2.h), one
// for both paths: a skinny product in groups of rows, a narrow one in row blocks with every column group inside,
// each group handed to the path's kernel compiled for its size. `K`, a path's `Unpacked`, names its sizes and
// kernels:
//   kSkinnyGroup, kSkinnyDotRows        rows per skinny group when B is stored [K, N] / [N, K] (transB)
//   kNarrowRowBlock, kNarrowGroupMax    rows per narrow block; the widest column group (groups are 1, 2, 4, ...)
//   narrow_group(remaining)             the next column group's width
//   skinny_dot<R, D>, skinny_axpy<R, D>, narrow_dot<NJ, D>, narrow_axpy<NJ, D>
// The drivers only split the work; every sum's order is the kernels', fixed by the shape.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/dtype.h"

namespace lmf::gemm_unpacked {

// f(std::integral_constant<int, N>) for the runtime count n in [1, Max] (n >= Max runs Max).
template <int N, int Max, class F>
inline void with_count(int n, F&& f) {
  if constexpr (N >= Max)
    f(std::integral_constant<int, Max>{});
  else if (n == N)
    f(std::integral_constant<int, N>{});
  else
    with_count<N + 1, Max>(n, f);
}

// The same over the widths 1, 2, 4, ..., Max of a narrow column group (g >= Max runs Max).
template <int G, int Max, class F>
inline void with_group(int g, F&& f) {
  if constexpr (G >= Max)
    f(std::integral_constant<int, Max>{});
  else if (g == G)
    f(std::integral_constant<int, G>{});
  else
    with_group<G * 2, Max>(g, f);
}

// Columns [n0, n1) of a skinny product C[M, N] = alpha * op(A) @ op(B) + beta * C (+ bias), M <= the path's
// kSkinnyRows (kSkinnyDotRows when trans_b). op(A) is f32 with rows along K contiguous (a[r * lda + k]; the caller
// copies it there when it is stored otherwise); B (dtype D) is read in place.
template <class K, DType D>
void skinny(int64_t m, int64_t k, const float* a, int64_t lda, const void* b, bool trans_b, int64_t ldb, float* c,
            int64_t ldc, int64_t n0, int64_t n1, float alpha, float beta, const float* bias) {
  const int group = trans_b ? K::kSkinnyDotRows : K::kSkinnyGroup;
  for (int64_t r0 = 0; r0 < m; r0 += group) {
    const int rows = static_cast<int>(std::min<int64_t>(group, m - r0));
    const float* ar = a + r0 * lda;
    float* cr = c + r0 * ldc;
    if (trans_b)
      with_count<1, K::kSkinnyDotRows>(rows, [&](auto r) {
        K::template skinny_dot<decltype(r)::value, D>(ar, lda, b, ldb, k, cr, ldc, n0, n1, alpha, beta, bias);
      });
    else
      with_count<1, K::kSkinnyGroup>(rows, [&](auto r) {
        K::template skinny_axpy<decltype(r)::value, D>(ar, lda, b, ldb, k, cr, ldc, n0, n1, alpha, beta, bias);
      });
  }
}

// Rows [i0, i1) of a narrow product C[M, N <= 16] = alpha * op(A) @ op(B) + beta * C (+ bias), A (dtype D) read in
// place. bp holds op(B) as f32, zero-padded to whole column groups: op(B)^T [N_pad, K] (row stride ldp) when
// !trans_a, op(B) [K, N_pad] when trans_a.
template <class K, DType D>
void narrow(int64_t n, int64_t k, const void* a, bool trans_a, int64_t lda, const float* bp, int64_t ldp, float* c,
            int64_t ldc, int64_t i0, int64_t i1, float alpha, float beta, const float* bias) {
  // Row blocks of kNarrowRowBlock (a multiple of every kernel's row step), every column group inside one: the
  // block of A is read from memory once and from L2 for the further groups.
  for (int64_t r0 = i0; r0 < i1; r0 += K::kNarrowRowBlock) {
    const int64_t r1 = std::min<int64_t>(i1, r0 + K::kNarrowRowBlock);
    for (int64_t j0 = 0; j0 < n; j0 += K::narrow_group(n - j0)) {
      const int nj = K::narrow_group(n - j0), cols = static_cast<int>(std::min<int64_t>(nj, n - j0));
      const float* bias_j = bias ? bias + j0 : nullptr;
      float* cj = c + j0;
      with_group<1, K::kNarrowGroupMax>(nj, [&](auto g) {
        constexpr int NJ = decltype(g)::value;
        if (trans_a)
          K::template narrow_axpy<NJ, D>(a, lda, r0, r1, bp + j0, ldp, k, cj, ldc, cols, alpha, beta, bias_j);
        else
          K::template narrow_dot<NJ, D>(a, lda, r0, r1, bp + j0 * ldp, ldp, k, cj, ldc, cols, alpha, beta, bias_j);
      });
    }
  }
}

}  // namespace lmf::gemm_unpacked
