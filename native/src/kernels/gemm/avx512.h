// AVX-512 GEMM path: a 14x32 micro-kernel (28 zmm accumulators; per k step two 16-float loads of B and 14
// embedded-broadcast FMAs pairs of A) and vectorised packing that widens bf16/f16 while it copies. Every function
// carries its own target attribute, so this header compiles into a binary that still runs on plain x86-64.
//
// Packed layouts (kc = the K block):
//   A panel: MR rows x kc, stored k-major: Ap[k * MR + r]   (rows past the matrix edge are zero)
//   B panel: kc x NR columns:               Bp[k * NR + c]   (columns past the edge are zero)
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "core/dtype.h"

#define LMF_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

// GCC 12 reports its own _mm512_undefined_*() placeholders inside the intrinsics as "maybe uninitialized".
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace lmf::gemm_avx512 {

constexpr int MR = 14, NR = 32;

// Loads 16 consecutive values of a D-typed array starting at element i as f32 (lanes outside mask read as 0).
template <DType D>
LMF_AVX512 inline __m512 load16(const void* base, int64_t i, __mmask16 mask) {
  if constexpr (D == DType::f32) {
    return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(base) + i);
  } else {
    __m256i h = _mm256_maskz_loadu_epi16(mask, static_cast<const uint16_t*>(base) + i);
    if constexpr (D == DType::bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
  }
}

template <DType D>
constexpr int64_t dtype_bytes() {
  return D == DType::f32 ? 4 : 2;
}
inline __mmask16 mask_first(int64_t n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u); }

// In-register transpose: r[i][j] -> r[j][i] for a 16x16 f32 tile.
LMF_AVX512 inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; ++g) {  // u[4g + j], lane L: rows 4g..4g+3 of column 4L + j
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {
    __m512 v = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), w = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
    __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88), w2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
    r[j] = _mm512_shuffle_f32x4(v, v2, 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(v, v2, 0xDD);
    r[4 + j] = _mm512_shuffle_f32x4(w, w2, 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(w, w2, 0xDD);
  }
}

// dst[k * stride + c] = src[(row0 + c) * ld + k0 + k] for c < width (<= 16), k < kc: reads `width` rows of a
// row-major matrix along K and writes them k-major. Lanes c >= width are stored as zero only where store_mask has
// them (the A panel stores 14 lanes, the B panel 16).
template <DType D>
LMF_AVX512 inline void pack_rows_transposed(const void* src, int64_t ld, int64_t row0, int width, int64_t k0,
                                           int64_t kc, float* dst, int64_t stride, __mmask16 store_mask) {
  __m512 r[16];
  for (int64_t kk = 0; kk < kc; kk += 16) {
    int64_t kn = std::min<int64_t>(16, kc - kk);
    __mmask16 m = mask_first(kn);
    for (int c = 0; c < 16; ++c)
      r[c] = c < width ? load16<D>(src, (row0 + c) * ld + k0 + kk, m) : _mm512_setzero_ps();
    transpose16(r);
    for (int64_t i = 0; i < kn; ++i) _mm512_mask_storeu_ps(dst + (kk + i) * stride, store_mask, r[i]);
  }
}

// Packs op(A)[i0 : i0+mc, k0 : k0+kc] into ceil(mc / MR) panels of MR * kc floats.
template <DType D>
LMF_AVX512 void pack_a(const void* a, bool trans, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
                       float* dst) {
  const __mmask16 store14 = 0x3fff;
  if (trans) {  // A stored [K, M]: walk each row of A once across all panels (one pass over its pages, not one per
                // panel: rows of a large M are far apart)
    for (int64_t k = 0; k < kc; ++k) {
      int64_t row = (k0 + k) * lda + i0;
      float* d = dst + k * MR;
      for (int64_t p = 0; p < mc; p += MR, d += MR * kc)
        _mm512_mask_storeu_ps(d, store14, load16<D>(a, row + p, mask_first(std::min<int64_t>(MR, mc - p))));
    }
    return;
  }
  for (int64_t p = 0; p < mc; p += MR, dst += MR * kc)  // A stored [M, K]
    pack_rows_transposed<D>(a, lda, i0 + p, static_cast<int>(std::min<int64_t>(MR, mc - p)), k0, kc, dst, MR,
                            store14);
}

// Packs op(B)[k0 : k0+kc, j0 : j0+nc] into ceil(nc / NR) panels of kc * NR floats.
template <DType D>
LMF_AVX512 void pack_b(const void* b, bool trans, int64_t ldb, int64_t j0, int64_t nc, int64_t k0, int64_t kc,
                       float* dst) {
  if (!trans) {  // B stored [K, N]: row by row across all panels, as for a transposed A
    for (int64_t k = 0; k < kc; ++k) {
      int64_t row = (k0 + k) * ldb + j0;
      float* d = dst + k * NR;
      for (int64_t p = 0; p < nc; p += NR, d += NR * kc) {
        _mm512_store_ps(d, load16<D>(b, row + p, mask_first(std::max<int64_t>(0, nc - p))));
        _mm512_store_ps(d + 16, load16<D>(b, row + p + 16, mask_first(std::max<int64_t>(0, nc - p - 16))));
      }
    }
    return;
  }
  for (int64_t p = 0; p < nc; p += NR, dst += NR * kc)  // B stored [N, K] (an nn.Linear weight)
    for (int h = 0; h < NR; h += 16) {
      int cols = static_cast<int>(std::clamp<int64_t>(nc - p - h, 0, 16));
      pack_rows_transposed<D>(b, ldb, j0 + p + h, cols, k0, kc, dst + h, NR, 0xffff);
    }
}

// The tile's epilogue: C[R x cols] = alpha * acc + (beta == 0 ? 0 : beta * C) (+ bias[cols]), acc0 holding
// columns 0..15 and acc1 columns 16..31 of each row (shared with the bf16 kernel, gemm/avx512_bf16.h).
template <int R>
LMF_AVX512 __attribute__((always_inline)) inline void store_tile(const __m512 (&acc0)[R], const __m512 (&acc1)[R], float* c, int64_t ldc, int cols,
                                  float alpha, float beta, const float* bias) {
  __mmask16 m0 = mask_first(cols), m1 = mask_first(cols > 16 ? cols - 16 : 0);
  __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
  __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) {
    float* row = c + r * ldc;
    __m512 c0 = bias0, c1 = bias1;
    if (beta == 1.f) {
      c0 = _mm512_add_ps(c0, _mm512_maskz_loadu_ps(m0, row));
      c1 = _mm512_add_ps(c1, _mm512_maskz_loadu_ps(m1, row + 16));
    } else if (beta != 0.f) {
      c0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), c0);
      c1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), c1);
    }
    _mm512_mask_storeu_ps(row, m0, _mm512_fmadd_ps(va, acc0[r], c0));
    _mm512_mask_storeu_ps(row + 16, m1, _mm512_fmadd_ps(va, acc1[r], c1));
  }
}

// C[R x cols] (row stride ldc) = alpha * Ap @ Bp + (beta == 0 ? 0 : beta * C) (+ bias[cols]).
// R <= MR rows are compile-time so the accumulators stay in registers; cols <= NR go through store masks.
template <int R>
LMF_AVX512 void kernel(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* c, int64_t ldc,
                       int cols, float alpha, float beta, const float* bias) {
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) {
    acc0[r] = _mm512_setzero_ps();
    acc1[r] = _mm512_setzero_ps();
    // C is read in the epilogue, about a microsecond from now: start fetching it (rows are far apart in memory)
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + NR - 1), _MM_HINT_T0);
  }
  for (int64_t k = 0; k < kc; ++k) {
    __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
    _mm_prefetch(reinterpret_cast<const char*>(bp + 8 * NR), _MM_HINT_T0);
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) {
      __m512 av = _mm512_set1_ps(ap[r]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
    ap += MR;
    bp += NR;
  }
  store_tile<R>(acc0, acc1, c, ldc, cols, alpha, beta, bias);
}

using KernelFn = void (*)(int64_t, const float*, const float*, float*, int64_t, int, float, float, const float*);
inline KernelFn kernel_for_rows(int rows) {
  static const KernelFn table[MR + 1] = {nullptr,    kernel<1>,  kernel<2>,  kernel<3>,  kernel<4>,
                                         kernel<5>,  kernel<6>,  kernel<7>,  kernel<8>,  kernel<9>,
                                         kernel<10>, kernel<11>, kernel<12>, kernel<13>, kernel<14>};
  return table[rows];
}

// ---- Unpacked products (a side of at most 16: decoding, a LoRA rank) ------------------------------------------
// Packing costs about as much as multiplying a large operand by a sliver, so these read the large operand where it
// lies and the caller copies the small one to f32. "Skinny" products have few rows (M <= 16, B read in place),
// "narrow" ones few columns (N <= 16, A read in place). Both come down to the same two loops over K, written once
// below; what differs is the epilogue that turns the accumulators into C:
//   axpy_product: vectors along the long side, one small-operand value broadcast per k. Skinny (B stored [K, N]):
//     the accumulators are rows of C. Narrow (A stored [K, M]): they are columns of C, transposed in registers.
//   dot_product: dot products along K, 16 lanes at a time. Skinny (B stored [N, K]): each output reduced alone.
//     Narrow (A stored [M, K]): 8 outputs reduced together by a shuffle tree (lane_sums8).
// Every sum runs over K in an order fixed by the shape alone, never by the thread split.

// Rows ahead that the strided (column-strip) walks of axpy_product prefetch, into L2: operands of LoRA's products
// are often cold (activations saved in the forward). In a LoRA step 32 rows into L2 measured best (vs 8, 64, 128
// rows; into L1 the tA products ran 1.5x slower, 8x576x512 tA slower than packing).
constexpr int64_t kStridePrefetch = 32;
// Bytes ahead that the narrow dot products prefetch along A's rows (sequential, but a cold A came 1.2-1.3x faster
// with 1 KB; 2 and 4 KB, or into L2 instead of L1, measured the same within noise).
constexpr int64_t kRowPrefetchBytes = 1024;

#define LMF_AVX512_INLINE LMF_AVX512 __attribute__((always_inline)) inline

// acc[q][v] = sum over k, in k order, of y[q * y_q + k * y_k] * X[k][x0 + 16 v + lane] for Q values of the small
// f32 operand and V vectors of the large one X (dtype D, row stride ldx, lanes per mask m[v]), whose strided walk
// down K is prefetched. Skinny: X = B, y = op(A)'s rows (y_q = lda, y_k = 1); narrow: X = A, y = op(B) (1, ldp).
template <int Q, int V, DType D>
LMF_AVX512_INLINE void axpy_product(const void* x, int64_t ldx, int64_t x0, const __mmask16 (&m)[V], const float* y,
                                    int64_t y_q, int64_t y_k, int64_t k, __m512 (&acc)[Q][V]) {
#pragma GCC unroll 8
  for (int q = 0; q < Q; ++q)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[q][v] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < k; ++kk) {
    // The walk down a column strip is strided; a cold operand would arrive at the hardware prefetcher's slow pace.
    if (kk + kStridePrefetch < k)
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v)
        _mm_prefetch(static_cast<const char*>(x) + ((kk + kStridePrefetch) * ldx + x0 + 16 * v) * dtype_bytes<D>(),
                     _MM_HINT_T1);
    __m512 xv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) xv[v] = load16<D>(x, kk * ldx + x0 + 16 * v, m[v]);
#pragma GCC unroll 8
    for (int q = 0; q < Q; ++q) {
      __m512 yv = _mm512_set1_ps(y[q * y_q + kk * y_k]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[q][v] = _mm512_fmadd_ps(yv, xv[v], acc[q][v]);
    }
  }
}

// acc[p][q] = lane-wise partial sums over K (16 values per step) of X's row x0 + p (dtype D, row stride ldx; rows
// p >= px read as zero) times y's row q (f32, row stride ldy). Skinny: X = B stored [N, K], y = op(A); narrow:
// X = A stored [M, K] (PrefetchRows: 1 KB ahead along its rows), y = op(B)^T.
template <int P, int Q, DType D, bool PrefetchRows>
LMF_AVX512_INLINE void dot_product(const void* x, int64_t ldx, int64_t x0, int px, const float* y, int64_t ldy,
                                   int64_t k, __m512 (&acc)[P][Q]) {
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 8
    for (int q = 0; q < Q; ++q) acc[p][q] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < k; kk += 16) {
    __mmask16 m = mask_first(k - kk);
    __m512 xv[P];
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) {
      if constexpr (PrefetchRows)
        _mm_prefetch(static_cast<const char*>(x) + ((x0 + p) * ldx + kk) * dtype_bytes<D>() + kRowPrefetchBytes,
                     _MM_HINT_T0);
      xv[p] = p < px ? load16<D>(x, (x0 + p) * ldx + kk, m) : _mm512_setzero_ps();
    }
#pragma GCC unroll 8
    for (int q = 0; q < Q; ++q) {
      __m512 yv = _mm512_maskz_loadu_ps(m, y + q * ldy + kk);
#pragma GCC unroll 8
      for (int p = 0; p < P; ++p) acc[p][q] = _mm512_fmadd_ps(xv[p], yv, acc[p][q]);
    }
  }
}

// out[lanes of m] = alpha * v + beta * out (+ bias): C's update in every vector epilogue (beta = 0 never reads out).
LMF_AVX512_INLINE void store_row(__m512 v, float* out, __mmask16 m, float alpha, float beta, const float* bias) {
  __m512 base = bias ? _mm512_maskz_loadu_ps(m, bias) : _mm512_setzero_ps();
  if (beta != 0.f) base = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, out), base);
  _mm512_mask_storeu_ps(out, m, _mm512_fmadd_ps(_mm512_set1_ps(alpha), v, base));
}

// Lane j (< 8) of the result = the sum of the 16 lanes of v[j]: a shuffle tree (unpack, shuffle_ps, two 128-bit
// block shuffles) instead of eight separate horizontal reductions.
LMF_AVX512 inline __m512 lane_sums8(const __m512 v[8]) {
  __m512 w[4], x[2];
  for (int i = 0; i < 4; ++i)  // per block: [v2i[0]+v2i[2], v2i+1[0]+[2], v2i[1]+[3], v2i+1[1]+[3]]
    w[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  for (int i = 0; i < 2; ++i)  // per block: the block's sum of v4i .. v4i+3
    x[i] = _mm512_add_ps(_mm512_shuffle_ps(w[2 * i], w[2 * i + 1], 0x44),
                         _mm512_shuffle_ps(w[2 * i], w[2 * i + 1], 0xEE));
  __m512 y = _mm512_add_ps(_mm512_shuffle_f32x4(x[0], x[1], 0x44), _mm512_shuffle_f32x4(x[0], x[1], 0xEE));
  __m512 z = _mm512_add_ps(y, _mm512_shuffle_f32x4(y, y, 0xB1));  // blocks: [v0..3, v0..3, v4..7, v4..7]
  return _mm512_shuffle_f32x4(z, z, 0x08);
}

// ---- Skinny products (M <= 16) ----------------------------------------------------------------------------------
// Up to 16 rows in groups of 8 when B is stored [K, N] (B read once per group), up to 4 when B is stored [N, K]
// (each dot product ends in a horizontal sum, which costs more than packing from 5 rows on).
constexpr int kSkinnyRows = 16, kSkinnyGroup = 8, kSkinnyDotRows = 4;
// Column vectors per step of the [K, N] form: 4 for up to 4 rows, 3 for 5-8 rows, so R x 3 accumulators fit.
constexpr int skinny_width(int rows) { return rows <= 4 ? 4 : 3; }

// C[R <= 4, n0:n1] for B stored [N, K] (transB, an nn.Linear weight): dot products along K, 4 columns at a time.
// A is f32 [R, K] with row stride lda. Epilogue: each output's lanes summed alone.
template <int R, DType D>
LMF_AVX512 void skinny_rows_dot(const float* a, int64_t lda, const void* b, int64_t ldb, int64_t k, float* c,
                                int64_t ldc, int64_t n0, int64_t n1, float alpha, float beta, const float* bias) {
  constexpr int W = 4;
  for (int64_t n = n0; n < n1; n += W) {
    int cols = static_cast<int>(std::min<int64_t>(W, n1 - n));
    __m512 acc[W][R];  // [column][row]
    dot_product<W, R, D, false>(b, ldb, n, cols, a, lda, k, acc);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < cols; ++j) {
        float* out = c + r * ldc + n + j;
        float base = bias ? bias[n + j] : 0.f;
        if (beta != 0.f) base += beta * *out;
        *out = alpha * _mm512_reduce_add_ps(acc[j][r]) + base;
      }
  }
}

// C[R, n0:n1] for B stored [K, N]: rows of B scaled by op(A)[r][k] (a[r * lda + k], f32) and summed in k order,
// 16 * W columns at a time. Epilogue: the accumulators are rows of C.
template <int R, DType D>
LMF_AVX512 void skinny_rows_axpy(const float* a, int64_t lda, const void* b, int64_t ldb, int64_t k, float* c,
                                 int64_t ldc, int64_t n0, int64_t n1, float alpha, float beta, const float* bias) {
  constexpr int W = skinny_width(R);
  for (int64_t n = n0; n < n1; n += 16 * W) {
    __mmask16 m[W];
#pragma GCC unroll 4
    for (int j = 0; j < W; ++j) m[j] = mask_first(std::max<int64_t>(0, n1 - n - 16 * j));
    __m512 acc[R][W];
    axpy_product<R, W, D>(b, ldb, n, m, a, lda, 1, k, acc);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int j = 0; j < W; ++j)
        store_row(acc[r][j], c + r * ldc + n + 16 * j, m[j], alpha, beta, bias ? bias + n + 16 * j : nullptr);
  }
}

// ---- Narrow products (N <= 16) --------------------------------------------------------------------------------
// The packed path would fill a 32-column tile with N <= 16 useful columns and pack all of the large op(A) to
// multiply it by a [K, N] sliver. Here op(B) (at most 16 x K, copied to f32 by the caller) is read once per group of
// up to 8 columns of C and op(A) where it lies (from L1 for A stored [M, K]). Columns go in groups of 8, 4, 2 or 1
// (the copy of op(B) is zero-padded to whole groups).
constexpr int kNarrowMaxN = 16;
constexpr int64_t kNarrowRowBlock = 48;
inline int narrow_group(int64_t remaining) { return remaining >= 8 ? 8 : remaining > 2 ? 4 : int(remaining); }

// A stored [M, K] (row stride lda, dtype D): R rows x NJ columns of C by dot products along K with bt, the f32
// copy of op(B)^T ([N_pad, K], row stride ldt). Epilogue: each row's NJ outputs reduced together by lane_sums8.
template <int R, int NJ, DType D>
LMF_AVX512 void narrow_dot_block(const void* a, int64_t lda, int64_t i0, const float* bt, int64_t ldt, int64_t k,
                                 float* c, int64_t ldc, int cols, float alpha, float beta, const float* bias) {
  __m512 acc[R][NJ];
  dot_product<R, NJ, D, true>(a, lda, i0, R, bt, ldt, k, acc);
  const __mmask16 m = mask_first(cols);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    __m512 v[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) v[j] = j < NJ ? acc[r][j] : _mm512_setzero_ps();
    __m512 sums;
    if constexpr (NJ == 1)
      sums = _mm512_set1_ps(_mm512_reduce_add_ps(acc[r][0]));
    else
      sums = lane_sums8(v);
    store_row(sums, c + (i0 + r) * ldc, m, alpha, beta, bias);
  }
}

// Rows [i0, i1) x one column group, A stored [M, K]: blocks of R rows (R * NJ accumulators fill the registers),
// the last few rows one at a time.
template <int NJ, DType D>
LMF_AVX512 void narrow_dot_rows(const void* a, int64_t lda, int64_t i0, int64_t i1, const float* bt, int64_t ldt,
                                int64_t k, float* c, int64_t ldc, int cols, float alpha, float beta,
                                const float* bias) {
  constexpr int R = NJ >= 8 ? 3 : NJ == 4 ? 6 : 8;
  int64_t i = i0;
  for (; i + R <= i1; i += R) narrow_dot_block<R, NJ, D>(a, lda, i, bt, ldt, k, c, ldc, cols, alpha, beta, bias);
  for (; i < i1; ++i) narrow_dot_block<1, NJ, D>(a, lda, i, bt, ldt, k, c, ldc, cols, alpha, beta, bias);
}

// A stored [K, M] (trans_a: op(A)[i][k] = a[k * lda + i]): 16 * S rows of C at a time, vectors along M, each k
// adding A's row segment times op(B)[k][j] (bs: f32 [K, N_pad], row stride ldp) in k order. Epilogue: the
// accumulators are [NJ, 16] blocks of C^T, transposed in registers.
template <int NJ, DType D>
LMF_AVX512 void narrow_axpy_rows(const void* a, int64_t lda, int64_t i0, int64_t i1, const float* bs, int64_t ldp,
                                 int64_t k, float* c, int64_t ldc, int cols, float alpha, float beta,
                                 const float* bias) {
  constexpr int S = 3;  // 48 rows: the parallel unit (gemm.cc)
  const __mmask16 out_mask = mask_first(cols);
  for (int64_t i = i0; i < i1; i += 16 * S) {
    __mmask16 m[S];
#pragma GCC unroll 4
    for (int s = 0; s < S; ++s) m[s] = mask_first(std::max<int64_t>(0, i1 - i - 16 * s));
    __m512 acc[NJ][S];
    axpy_product<NJ, S, D>(a, lda, i, m, bs, 1, ldp, k, acc);
#pragma GCC unroll 4
    for (int s = 0; s < S; ++s) {
      int64_t rows = std::min<int64_t>(16, i1 - i - 16 * s);
      if (rows <= 0) break;
      __m512 r[16];
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j) r[j] = j < NJ ? acc[j][s] : _mm512_setzero_ps();
      transpose16(r);  // r[l] = C[i + 16s + l, j0 : j0 + NJ]
      for (int64_t l = 0; l < rows; ++l) store_row(r[l], c + (i + 16 * s + l) * ldc, out_mask, alpha, beta, bias);
    }
  }
}

// What the shared drivers (gemm/unpacked.h) run on this path.
struct Unpacked {
  static constexpr int kSkinnyGroup = gemm_avx512::kSkinnyGroup, kSkinnyDotRows = gemm_avx512::kSkinnyDotRows;
  static constexpr int64_t kNarrowRowBlock = gemm_avx512::kNarrowRowBlock;
  static constexpr int kNarrowGroupMax = 8;
  static int narrow_group(int64_t remaining) { return gemm_avx512::narrow_group(remaining); }
  template <int R, DType D>
  static constexpr auto skinny_dot = skinny_rows_dot<R, D>;
  template <int R, DType D>
  static constexpr auto skinny_axpy = skinny_rows_axpy<R, D>;
  template <int NJ, DType D>
  static constexpr auto narrow_dot = narrow_dot_rows<NJ, D>;
  template <int NJ, DType D>
  static constexpr auto narrow_axpy = narrow_axpy_rows<NJ, D>;
};

}  // namespace lmf::gemm_avx512

#pragma GCC diagnostic pop
#endif
