// AVX2 + FMA GEMM path: a 6x16 micro-kernel (12 ymm accumulators, two 8-float loads of B and 6 broadcasts of A per
// k step). Packing that reads along K (a transposed nn.Linear weight, an untransposed A) goes through 8x8 in-register
// transposes for f32 and bf16; the rest is the scalar code of portable.h (same panel layouts). Compiled per function
// with a target attribute, so the binary still runs on plain x86-64.
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/gemm/portable.h"

#define LMF_AVX2 __attribute__((target("avx2,fma")))

namespace lmf::gemm_avx2 {

constexpr int MR = 6, NR = 16;

// Loads 8 consecutive values starting at element i, widened to f32; lanes >= n read as 0. f16 goes through the
// scalar conversion (F16C is not part of this path's target).
template <DType D>
LMF_AVX2 inline __m256 load8(const void* base, int64_t i, int n) {
  if (n >= 8 && D != DType::f16) {
    if constexpr (D == DType::f32) return _mm256_loadu_ps(static_cast<const float*>(base) + i);
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  alignas(32) float tmp[8] = {};
  for (int j = 0; j < n; ++j) tmp[j] = gemm_portable::load1<D>(base, i + j);
  return _mm256_load_ps(tmp);
}

// Rows ahead that the strided walks of the skinny and narrow kernels prefetch, into L2 (see avx512.h).
constexpr int64_t kStridePrefetch = 32;
template <DType D>
inline void prefetch(const void* base, int64_t i) {
  _mm_prefetch(static_cast<const char*>(base) + i * (D == DType::f32 ? 4 : 2), _MM_HINT_T1);
}

// In-register transpose of an 8x8 f32 tile: r[i][j] -> r[j][i].
LMF_AVX2 inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 2; ++g) {  // u[4g + j], 128-bit lane L: rows 4g..4g+3 of column 4L + j
    u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
    r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
  }
}

// dst[k * stride + x] = src[(x0 + x) * ld + k0 + k] for x < width (<= 8), zero for width <= x < lanes; `lanes`
// (6 for an A panel, 8 for half a B panel) values are written per k.
template <DType D>
LMF_AVX2 inline void pack_rows_transposed(const void* src, int64_t ld, int64_t x0, int width, int64_t k0, int64_t kc,
                                         float* dst, int64_t stride, int lanes) {
  const __m256i store_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256 r[8];
  for (int64_t kk = 0; kk < kc; kk += 8) {
    int kn = static_cast<int>(std::min<int64_t>(8, kc - kk));
    for (int x = 0; x < 8; ++x) r[x] = x < width ? load8<D>(src, (x0 + x) * ld + k0 + kk, kn) : _mm256_setzero_ps();
    transpose8(r);
    for (int i = 0; i < kn; ++i) _mm256_maskstore_ps(dst + (kk + i) * stride, store_mask, r[i]);
  }
}

// op(A)[i0 : i0+mc, k0 : k0+kc] into MR-row panels (layout of portable.h).
template <DType D>
LMF_AVX2 void pack_a(const void* a, bool trans, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
                     float* dst) {
  if (trans || D == DType::f16) {
    gemm_portable::pack_a<D, MR>(a, trans, lda, i0, mc, k0, kc, dst);
    return;
  }
  for (int64_t p = 0; p < mc; p += MR, dst += MR * kc)
    pack_rows_transposed<D>(a, lda, i0 + p, static_cast<int>(std::min<int64_t>(MR, mc - p)), k0, kc, dst, MR, MR);
}

// op(B)[k0 : k0+kc, j0 : j0+nc] into NR-column panels (layout of portable.h).
template <DType D>
LMF_AVX2 void pack_b(const void* b, bool trans, int64_t ldb, int64_t j0, int64_t nc, int64_t k0, int64_t kc,
                     float* dst) {
  if (!trans || D == DType::f16) {
    gemm_portable::pack_b<D, NR>(b, trans, ldb, j0, nc, k0, kc, dst);
    return;
  }
  for (int64_t p = 0; p < nc; p += NR, dst += NR * kc)
    for (int h = 0; h < NR; h += 8) {
      int cols = static_cast<int>(std::clamp<int64_t>(nc - p - h, 0, 8));
      pack_rows_transposed<D>(b, ldb, j0 + p + h, cols, k0, kc, dst + h, NR, 8);
    }
}

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

// ---- Skinny products (M <= 16: decoding, a LoRA rank), without packing: see avx512.h ---------------------------
// Groups of 4 rows: 16 accumulators are all the registers AVX2 has, so B is read once per 4 rows; from 9 rows on
// packing measured as fast (16 x 576 x 576: 11% faster). Up to 4 rows when B is stored [N, K].
constexpr int kSkinnyRows = 8, kSkinnyGroup = 4, kSkinnyDotRows = 4;

LMF_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// C[R, n0:n1] for B stored [N, K] (transB): dot products along K, four columns at a time; A is f32 [R, K].
template <int R, DType D>
LMF_AVX2 void skinny_rows_dot(const float* a, int64_t lda, const void* b, int64_t ldb, int64_t k, float* c,
                              int64_t ldc, int64_t n0, int64_t n1, float alpha, float beta, const float* bias) {
  for (int64_t n = n0; n < n1; n += 4) {
    int cols = static_cast<int>(std::min<int64_t>(4, n1 - n));
    __m256 acc[R][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) acc[r][j] = _mm256_setzero_ps();
    for (int64_t kk = 0; kk < k; kk += 8) {
      int kn = static_cast<int>(std::min<int64_t>(8, k - kk));
      __m256 bv[4];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) bv[j] = j < cols ? load8<D>(b, (n + j) * ldb + kk, kn) : _mm256_setzero_ps();
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        __m256 av = load8<DType::f32>(a, r * lda + kk, kn);
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) acc[r][j] = _mm256_fmadd_ps(av, bv[j], acc[r][j]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        if (j >= cols) break;
        float* out = c + r * ldc + n + j;
        float base = bias ? bias[n + j] : 0.f;
        if (beta != 0.f) base += beta * *out;
        *out = alpha * hsum(acc[r][j]) + base;
      }
  }
}

// C[R, n0:n1] for B stored [K, N]: rows of B scaled by op(A)[r][k] (= a[r * lda + k]) and summed in k order,
// 32 columns at a time; a partial last group goes through the stack.
template <int R, DType D>
LMF_AVX2 void skinny_rows_axpy(const float* a, int64_t lda, const void* b, int64_t ldb, int64_t k, float* c,
                               int64_t ldc, int64_t n0, int64_t n1, float alpha, float beta, const float* bias) {
  for (int64_t n = n0; n < n1; n += 32) {
    int width = static_cast<int>(std::min<int64_t>(32, n1 - n));
    __m256 acc[R][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) acc[r][j] = _mm256_setzero_ps();
    for (int64_t kk = 0; kk < k; ++kk) {
      if (kk + kStridePrefetch < k) {  // a strided walk down a column strip
        prefetch<D>(b, (kk + kStridePrefetch) * ldb + n);
        prefetch<D>(b, (kk + kStridePrefetch) * ldb + n + 16);
      }
      __m256 bv[4];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j)
        bv[j] = load8<D>(b, kk * ldb + n + 8 * j, static_cast<int>(std::clamp(width - 8 * j, 0, 8)));
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        __m256 av = _mm256_set1_ps(a[r * lda + kk]);
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) acc[r][j] = _mm256_fmadd_ps(av, bv[j], acc[r][j]);
      }
    }
    alignas(32) float tile[R * 32];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) _mm256_store_ps(tile + r * 32 + 8 * j, acc[r][j]);
    gemm_portable::store_tile<32>(tile, R, width, c + n, ldc, alpha, beta, bias ? bias + n : nullptr);
  }
}

// Columns [n0, n1) of a skinny product C[M <= 8 (4 when trans_b), N] = alpha * op(A) @ op(B) + beta * C (+ bias);
// op(A) is f32 with rows along K contiguous (a[r * lda + k]).
template <DType D>
LMF_AVX2 void skinny(int64_t m, int64_t k, const float* a, int64_t lda, const void* b, bool trans_b, int64_t ldb,
                     float* c, int64_t ldc, int64_t n0, int64_t n1, float alpha, float beta, const float* bias) {
  for (int64_t r0 = 0; r0 < m; r0 += kSkinnyGroup) {
    int rows = static_cast<int>(std::min<int64_t>(kSkinnyGroup, m - r0));
    const float* ar = a + r0 * lda;
    float* cr = c + r0 * ldc;
    if (trans_b) {
      switch (rows) {
        case 1: skinny_rows_dot<1, D>(ar, lda, b, ldb, k, cr, ldc, n0, n1, alpha, beta, bias); break;
        case 2: skinny_rows_dot<2, D>(ar, lda, b, ldb, k, cr, ldc, n0, n1, alpha, beta, bias); break;
        case 3: skinny_rows_dot<3, D>(ar, lda, b, ldb, k, cr, ldc, n0, n1, alpha, beta, bias); break;
        default: skinny_rows_dot<4, D>(ar, lda, b, ldb, k, cr, ldc, n0, n1, alpha, beta, bias); break;
      }
    } else {
      switch (rows) {
        case 1: skinny_rows_axpy<1, D>(ar, lda, b, ldb, k, cr, ldc, n0, n1, alpha, beta, bias); break;
        case 2: skinny_rows_axpy<2, D>(ar, lda, b, ldb, k, cr, ldc, n0, n1, alpha, beta, bias); break;
        case 3: skinny_rows_axpy<3, D>(ar, lda, b, ldb, k, cr, ldc, n0, n1, alpha, beta, bias); break;
        default: skinny_rows_axpy<4, D>(ar, lda, b, ldb, k, cr, ldc, n0, n1, alpha, beta, bias); break;
      }
    }
  }
}

// ---- Narrow products (N <= 16: a LoRA rank), without packing the long operand: see avx512.h -------------------
// Column groups of 4, 2 or 1 (16 registers), op(B) copied to f32 and zero-padded to whole groups by the caller.
constexpr int kNarrowMaxN = 16;
constexpr int64_t kNarrowRowBlock = 64;
inline int narrow_group(int64_t remaining) { return remaining >= 3 ? 4 : int(remaining); }

// C[i, 0:cols] = alpha * sums + beta * C (+ bias).
inline void narrow_store(const float* sums, float* out, int cols, float alpha, float beta, const float* bias) {
  for (int j = 0; j < cols; ++j) {
    float base = bias ? bias[j] : 0.f;
    if (beta != 0.f) base += beta * out[j];
    out[j] = alpha * sums[j] + base;
  }
}

// A stored [M, K] (row stride lda, dtype D): R rows x NJ columns by dot products along K with bt, the f32 copy of
// op(B)^T ([N_pad, K], row stride ldt); lane-wise partial sums, then a horizontal-add tree.
template <int R, int NJ, DType D>
LMF_AVX2 void narrow_dot_block(const void* a, int64_t lda, int64_t i0, const float* bt, int64_t ldt, int64_t k,
                               float* c, int64_t ldc, int cols, float alpha, float beta, const float* bias) {
  __m256 acc[R][NJ];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NJ; ++j) acc[r][j] = _mm256_setzero_ps();
  for (int64_t kk = 0; kk < k; kk += 8) {
    int kn = static_cast<int>(std::min<int64_t>(8, k - kk));
    __m256 av[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) av[r] = load8<D>(a, (i0 + r) * lda + kk, kn);
#pragma GCC unroll 4
    for (int j = 0; j < NJ; ++j) {
      __m256 bv = load8<DType::f32>(bt, j * ldt + kk, kn);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][j] = _mm256_fmadd_ps(av[r], bv, acc[r][j]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    alignas(16) float sums[4] = {};
    if constexpr (NJ == 1) {
      sums[0] = hsum(acc[r][0]);
    } else {
      __m256 v[4];
      for (int j = 0; j < 4; ++j) v[j] = j < NJ ? acc[r][j] : _mm256_setzero_ps();
      __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));  // per 128-bit half: v0..v3
      _mm_store_ps(sums, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
    }
    narrow_store(sums, c + (i0 + r) * ldc, cols, alpha, beta, bias);
  }
}

template <int NJ, DType D>
LMF_AVX2 void narrow_dot_rows(const void* a, int64_t lda, int64_t i0, int64_t i1, const float* bt, int64_t ldt,
                              int64_t k, float* c, int64_t ldc, int cols, float alpha, float beta, const float* bias) {
  constexpr int R = NJ == 4 ? 2 : NJ == 2 ? 4 : 8;
  int64_t i = i0;
  for (; i + R <= i1; i += R) narrow_dot_block<R, NJ, D>(a, lda, i, bt, ldt, k, c, ldc, cols, alpha, beta, bias);
  for (; i < i1; ++i) narrow_dot_block<1, NJ, D>(a, lda, i, bt, ldt, k, c, ldc, cols, alpha, beta, bias);
}

// A stored [K, M] (trans_a): 8 * S rows of C at a time, vectors along M, k-ordered sums of A's row segment times
// op(B)[k][j] (bs: f32 [K, N_pad], row stride ldp); the C^T block goes through the stack for the epilogue.
template <int NJ, DType D>
LMF_AVX2 void narrow_axpy_rows(const void* a, int64_t lda, int64_t i0, int64_t i1, const float* bs, int64_t ldp,
                               int64_t k, float* c, int64_t ldc, int cols, float alpha, float beta,
                               const float* bias) {
  constexpr int S = NJ == 4 ? 2 : NJ == 2 ? 4 : 8;
  for (int64_t i = i0; i < i1; i += 8 * S) {
    int lanes[S];
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) lanes[s] = static_cast<int>(std::clamp<int64_t>(i1 - i - 8 * s, 0, 8));
    __m256 acc[NJ][S];
#pragma GCC unroll 4
    for (int j = 0; j < NJ; ++j)
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) acc[j][s] = _mm256_setzero_ps();
    for (int64_t kk = 0; kk < k; ++kk) {
      if (kk + kStridePrefetch < k)  // a strided walk down A's columns
        for (int s = 0; s < S; s += 2) prefetch<D>(a, (kk + kStridePrefetch) * lda + i + 8 * s);
      __m256 av[S];
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) av[s] = load8<D>(a, kk * lda + i + 8 * s, lanes[s]);
#pragma GCC unroll 4
      for (int j = 0; j < NJ; ++j) {
        __m256 bv = _mm256_broadcast_ss(bs + kk * ldp + j);
#pragma GCC unroll 8
        for (int s = 0; s < S; ++s) acc[j][s] = _mm256_fmadd_ps(av[s], bv, acc[j][s]);
      }
    }
    alignas(32) float tile[NJ][8 * S];
#pragma GCC unroll 4
    for (int j = 0; j < NJ; ++j)
#pragma GCC unroll 8
      for (int s = 0; s < S; ++s) _mm256_store_ps(&tile[j][8 * s], acc[j][s]);
    int64_t rows = std::min<int64_t>(8 * S, i1 - i);
    for (int64_t l = 0; l < rows; ++l) {
      float sums[4] = {};
      for (int j = 0; j < NJ; ++j) sums[j] = tile[j][l];
      narrow_store(sums, c + (i + l) * ldc, cols, alpha, beta, bias);
    }
  }
}

// Rows [i0, i1) of a narrow product C[M, N <= 16] (see avx512.h for the operand layouts).
template <DType D>
LMF_AVX2 void narrow(int64_t n, int64_t k, const void* a, bool trans_a, int64_t lda, const float* bp, int64_t ldp,
                     float* c, int64_t ldc, int64_t i0, int64_t i1, float alpha, float beta, const float* bias) {
  // Row blocks of kNarrowRowBlock (a multiple of every kernel's row step), every column group inside one: the
  // block of A (at most 64 rows x K) is read from memory once and from L2 for the further groups.
  for (int64_t r0 = i0; r0 < i1; r0 += kNarrowRowBlock) {
    const int64_t r1 = std::min(i1, r0 + kNarrowRowBlock);
    for (int64_t j0 = 0; j0 < n; j0 += narrow_group(n - j0)) {
      int nj = narrow_group(n - j0), cols = static_cast<int>(std::min<int64_t>(nj, n - j0));
      const float* bias_j = bias ? bias + j0 : nullptr;
      float* cj = c + j0;
      if (trans_a) {
        const float* bs = bp + j0;
        switch (nj) {
          case 1: narrow_axpy_rows<1, D>(a, lda, r0, r1, bs, ldp, k, cj, ldc, cols, alpha, beta, bias_j); break;
          case 2: narrow_axpy_rows<2, D>(a, lda, r0, r1, bs, ldp, k, cj, ldc, cols, alpha, beta, bias_j); break;
          default: narrow_axpy_rows<4, D>(a, lda, r0, r1, bs, ldp, k, cj, ldc, cols, alpha, beta, bias_j); break;
        }
      } else {
        const float* bt = bp + j0 * ldp;
        switch (nj) {
          case 1: narrow_dot_rows<1, D>(a, lda, r0, r1, bt, ldp, k, cj, ldc, cols, alpha, beta, bias_j); break;
          case 2: narrow_dot_rows<2, D>(a, lda, r0, r1, bt, ldp, k, cj, ldc, cols, alpha, beta, bias_j); break;
          default: narrow_dot_rows<4, D>(a, lda, r0, r1, bt, ldp, k, cj, ldc, cols, alpha, beta, bias_j); break;
        }
      }
    }
  }
}

}  // namespace lmf::gemm_avx2
#endif
