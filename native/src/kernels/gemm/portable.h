// Portable GEMM path (any CPU) and the scalar packing that the AVX2 path shares with it. The micro-kernel works on a
// 6x8 tile in GCC/Clang vector types, so it is vectorised for the baseline ISA (SSE2 on x86-64, NEON on arm64).
//
// Packed layouts (kc = the K block), as in avx512.h:
//   A panel: MR rows x kc, k-major: Ap[k * MR + r]   (rows past the matrix edge are zero)
//   B panel: kc x NR columns:       Bp[k * NR + c]   (columns past the edge are zero)
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/dtype.h"

namespace lmf::gemm_portable {

template <DType D>
inline float load1(const void* base, int64_t i) {
  if constexpr (D == DType::f32) return static_cast<const float*>(base)[i];
  if constexpr (D == DType::bf16) return bf16_to_f32(static_cast<const uint16_t*>(base)[i]);
  return f16_to_f32(static_cast<const uint16_t*>(base)[i]);
}

// Packs rows of a panel: dst[k * W + x] = op(X)[x0 + x][k0 + k] for x < width, zero for width <= x < W, where
// element (x, k) of op(X) sits at src[x * ld + k] when `along_k_contiguous`, else at src[k * ld + x].
template <DType D, int W>
inline void pack_panel(const void* src, bool along_k_contiguous, int64_t ld, int64_t x0, int width, int64_t k0,
                       int64_t kc, float* dst) {
  if (width < W)
    for (int64_t k = 0; k < kc; ++k)
      for (int x = width; x < W; ++x) dst[k * W + x] = 0.f;
  if (along_k_contiguous) {
    for (int x = 0; x < width; ++x) {  // read each row along K, write with stride W
      int64_t row = (x0 + x) * ld + k0;
      for (int64_t k = 0; k < kc; ++k) dst[k * W + x] = load1<D>(src, row + k);
    }
  } else {
    for (int64_t k = 0; k < kc; ++k) {
      int64_t row = (k0 + k) * ld + x0;
      for (int x = 0; x < width; ++x) dst[k * W + x] = load1<D>(src, row + x);
    }
  }
}

// Panels of W lanes from a matrix whose lanes are contiguous (src[k * ld + x]): each source row is read once across
// all panels, so a wide matrix's rows (far apart in memory) are each visited in one pass.
template <DType D, int W>
inline void pack_panels_by_row(const void* src, int64_t ld, int64_t x0, int64_t count, int64_t k0, int64_t kc,
                               float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    int64_t row = (k0 + k) * ld + x0;
    float* d = dst + k * W;
    for (int64_t p = 0; p < count; p += W, d += W * kc) {
      int width = static_cast<int>(std::min<int64_t>(W, count - p));
      for (int x = 0; x < width; ++x) d[x] = load1<D>(src, row + p + x);
      for (int x = width; x < W; ++x) d[x] = 0.f;
    }
  }
}

// op(A)[i0 : i0+mc, k0 : k0+kc] into ceil(mc / MR) panels of MR * kc floats.
template <DType D, int MR>
inline void pack_a(const void* a, bool trans, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
                   float* dst) {
  if (trans) return pack_panels_by_row<D, MR>(a, lda, i0, mc, k0, kc, dst);
  for (int64_t p = 0; p < mc; p += MR, dst += MR * kc)
    pack_panel<D, MR>(a, !trans, lda, i0 + p, static_cast<int>(std::min<int64_t>(MR, mc - p)), k0, kc, dst);
}

// op(B)[k0 : k0+kc, j0 : j0+nc] into ceil(nc / NR) panels of kc * NR floats.
template <DType D, int NR>
inline void pack_b(const void* b, bool trans, int64_t ldb, int64_t j0, int64_t nc, int64_t k0, int64_t kc,
                   float* dst) {
  if (!trans) return pack_panels_by_row<D, NR>(b, ldb, j0, nc, k0, kc, dst);
  for (int64_t p = 0; p < nc; p += NR, dst += NR * kc)
    pack_panel<D, NR>(b, trans, ldb, j0 + p, static_cast<int>(std::min<int64_t>(NR, nc - p)), k0, kc, dst);
}

// Applies the epilogue C = alpha * acc + (beta == 0 ? 0 : beta * C) (+ bias) to a rows x cols corner of a tile.
template <int NR>
inline void store_tile(const float* acc, int rows, int cols, float* c, int64_t ldc, float alpha, float beta,
                       const float* bias) {
  for (int r = 0; r < rows; ++r) {
    float* row = c + r * ldc;
    for (int j = 0; j < cols; ++j) {
      float base = bias ? bias[j] : 0.f;
      if (beta != 0.f) base += beta * row[j];
      row[j] = alpha * acc[r * NR + j] + base;
    }
  }
}

// 6 x 8: 12 four-float accumulators fit the 16 registers of SSE2 (and leave room on NEON's 32).
constexpr int MR = 6, NR = 8;

// GCC/Clang vector extension: four floats in one register on SSE2 and NEON alike.
typedef float v4f __attribute__((vector_size(16)));

// C[rows x cols] = alpha * Ap @ Bp + (beta == 0 ? 0 : beta * C) (+ bias). Rows past `rows` hold packed zeros.
inline void kernel(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* c, int64_t ldc,
                   int rows, int cols, float alpha, float beta, const float* bias) {
  v4f acc[MR][2] = {};
  for (int64_t k = 0; k < kc; ++k, ap += MR, bp += NR) {
    v4f b0, b1;
    std::memcpy(&b0, bp, sizeof b0);
    std::memcpy(&b1, bp + 4, sizeof b1);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      acc[r][0] += ap[r] * b0;
      acc[r][1] += ap[r] * b1;
    }
  }
  float tile[MR * NR];
  std::memcpy(tile, acc, sizeof tile);
  store_tile<NR>(tile, rows, cols, c, ldc, alpha, beta, bias);
}

}  // namespace lmf::gemm_portable
