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

// ---- Unpacked products (a side of at most 16): the loops of avx512.h's skinny and narrow forms ----------------
// As there, axpy_product (vectors along the long side) and dot_product (along K) are each one loop that the skinny
// and narrow forms share; each form adds its own epilogue.

#define LMF_AVX2_INLINE LMF_AVX2 __attribute__((always_inline)) inline

// acc[q][v] = sum over k, in k order, of y[q * y_q + k * y_k] * X[k][x0 + 8 v + lane] for Q values of the small f32
// operand and V vectors of the large one X (dtype D, row stride ldx, lanes[v] valid lanes), whose strided walk down
// K is prefetched (every other vector: one 64-byte line per 16 floats). Skinny: X = B, y = op(A)'s rows; narrow:
// X = A, y = op(B).
template <int Q, int V, DType D>
LMF_AVX2_INLINE void axpy_product(const void* x, int64_t ldx, int64_t x0, const int (&lanes)[V], const float* y,
                                  int64_t y_q, int64_t y_k, int64_t k, __m256 (&acc)[Q][V]) {
#pragma GCC unroll 8
  for (int q = 0; q < Q; ++q)
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[q][v] = _mm256_setzero_ps();
  for (int64_t kk = 0; kk < k; ++kk) {
    if (kk + kStridePrefetch < k)  // a strided walk down a column strip
      for (int v = 0; v < V; v += 2) prefetch<D>(x, (kk + kStridePrefetch) * ldx + x0 + 8 * v);
    __m256 xv[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) xv[v] = load8<D>(x, kk * ldx + x0 + 8 * v, lanes[v]);
#pragma GCC unroll 8
    for (int q = 0; q < Q; ++q) {
      __m256 yv = _mm256_set1_ps(y[q * y_q + kk * y_k]);
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[q][v] = _mm256_fmadd_ps(yv, xv[v], acc[q][v]);
    }
  }
}

// acc[p][q] = lane-wise partial sums over K (8 values per step) of X's row x0 + p (dtype D, row stride ldx; rows
// p >= px read as zero) times y's row q (f32, row stride ldy). Skinny: X = B stored [N, K], y = op(A); narrow:
// X = A stored [M, K], y = op(B)^T.
template <int P, int Q, DType D>
LMF_AVX2_INLINE void dot_product(const void* x, int64_t ldx, int64_t x0, int px, const float* y, int64_t ldy,
                                 int64_t k, __m256 (&acc)[P][Q]) {
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 8
    for (int q = 0; q < Q; ++q) acc[p][q] = _mm256_setzero_ps();
  for (int64_t kk = 0; kk < k; kk += 8) {
    int kn = static_cast<int>(std::min<int64_t>(8, k - kk));
    __m256 xv[P];
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) xv[p] = p < px ? load8<D>(x, (x0 + p) * ldx + kk, kn) : _mm256_setzero_ps();
#pragma GCC unroll 8
    for (int q = 0; q < Q; ++q) {
      __m256 yv = load8<DType::f32>(y, q * ldy + kk, kn);
#pragma GCC unroll 8
      for (int p = 0; p < P; ++p) acc[p][q] = _mm256_fmadd_ps(xv[p], yv, acc[p][q]);
    }
  }
}

LMF_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- Skinny products (M <= 16) ----------------------------------------------------------------------------------
// Groups of 4 rows: 16 accumulators are all the registers AVX2 has, so B is read once per 4 rows; from 9 rows on
// packing measured as fast (16 x 576 x 576: 11% faster). Up to 4 rows when B is stored [N, K].
constexpr int kSkinnyRows = 8, kSkinnyGroup = 4, kSkinnyDotRows = 4;

// C[R, n0:n1] for B stored [N, K] (transB): dot products along K, four columns at a time; A is f32 [R, K].
// Epilogue: each output's lanes summed alone.
template <int R, DType D>
LMF_AVX2 void skinny_rows_dot(const float* a, int64_t lda, const void* b, int64_t ldb, int64_t k, float* c,
                              int64_t ldc, int64_t n0, int64_t n1, float alpha, float beta, const float* bias) {
  for (int64_t n = n0; n < n1; n += 4) {
    int cols = static_cast<int>(std::min<int64_t>(4, n1 - n));
    __m256 acc[4][R];  // [column][row]
    dot_product<4, R, D>(b, ldb, n, cols, a, lda, k, acc);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        if (j >= cols) break;
        float* out = c + r * ldc + n + j;
        float base = bias ? bias[n + j] : 0.f;
        if (beta != 0.f) base += beta * *out;
        *out = alpha * hsum(acc[j][r]) + base;
      }
  }
}

// C[R, n0:n1] for B stored [K, N]: rows of B scaled by op(A)[r][k] (= a[r * lda + k]) and summed in k order,
// 32 columns at a time. Epilogue: the accumulators are rows of C, stored through a stack tile.
template <int R, DType D>
LMF_AVX2 void skinny_rows_axpy(const float* a, int64_t lda, const void* b, int64_t ldb, int64_t k, float* c,
                               int64_t ldc, int64_t n0, int64_t n1, float alpha, float beta, const float* bias) {
  for (int64_t n = n0; n < n1; n += 32) {
    int width = static_cast<int>(std::min<int64_t>(32, n1 - n));
    int lanes[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) lanes[j] = std::clamp(width - 8 * j, 0, 8);
    __m256 acc[R][4];
    axpy_product<R, 4, D>(b, ldb, n, lanes, a, lda, 1, k, acc);
    alignas(32) float tile[R * 32];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) _mm256_store_ps(tile + r * 32 + 8 * j, acc[r][j]);
    gemm_portable::store_tile<32>(tile, R, width, c + n, ldc, alpha, beta, bias ? bias + n : nullptr);
  }
}

// ---- Narrow products (N <= 16) --------------------------------------------------------------------------------
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
// op(B)^T ([N_pad, K], row stride ldt). Epilogue: each row's outputs reduced together by a horizontal-add tree.
template <int R, int NJ, DType D>
LMF_AVX2 void narrow_dot_block(const void* a, int64_t lda, int64_t i0, const float* bt, int64_t ldt, int64_t k,
                               float* c, int64_t ldc, int cols, float alpha, float beta, const float* bias) {
  __m256 acc[R][NJ];
  dot_product<R, NJ, D>(a, lda, i0, R, bt, ldt, k, acc);
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
// op(B)[k][j] (bs: f32 [K, N_pad], row stride ldp). Epilogue: the accumulators are columns of C, stored through a
// stack tile.
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
    axpy_product<NJ, S, D>(a, lda, i, lanes, bs, 1, ldp, k, acc);
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

// What the shared drivers (gemm/unpacked.h) run on this path.
struct Unpacked {
  static constexpr int kSkinnyGroup = gemm_avx2::kSkinnyGroup, kSkinnyDotRows = gemm_avx2::kSkinnyDotRows;
  static constexpr int64_t kNarrowRowBlock = gemm_avx2::kNarrowRowBlock;
  static constexpr int kNarrowGroupMax = 4;
  static int narrow_group(int64_t remaining) { return gemm_avx2::narrow_group(remaining); }
  template <int R, DType D>
  static constexpr auto skinny_dot = skinny_rows_dot<R, D>;
  template <int R, DType D>
  static constexpr auto skinny_axpy = skinny_rows_axpy<R, D>;
  template <int NJ, DType D>
  static constexpr auto narrow_dot = narrow_dot_rows<NJ, D>;
  template <int NJ, DType D>
  static constexpr auto narrow_axpy = narrow_axpy_rows<NJ, D>;
};

}  // namespace lmf::gemm_avx2
#endif
