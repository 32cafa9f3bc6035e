// The 16-bit-weight decoding product (gemv16.h). Register blocking: P weight rows x M rows of x accumulate together
// (P * M vector accumulators), so each 64-byte line of W is loaded once and multiplied into all M rows; each row of
// the block is prefetched 1 KB ahead (P streams at once outpace the hardware prefetcher's ramp on a cold weight).
// P shrinks as M grows to keep the accumulators in registers: AVX-512 8/4/4/2 (M = 1, 2, 3-4, 5-8), AVX2 4/4/2/1.
// Per output: lane-wise partial sums along K in vector steps, then one horizontal sum, then K's scalar tail (AVX2,
// portable), then alpha/beta/bias as the GEMM's skinny epilogue applies them.
#include "kernels/gemv16.h"

#include <algorithm>
#include <vector>

#include "core/cpu.h"
#include "core/threadpool.h"
#include "kernels/isa_targets.h"

#if LMF_HAS_X86_TARGETS
#include <immintrin.h>
// GCC 12's AVX-512 headers pass self-initialised "undefined" vectors to the masked builtins (reduce_add_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define LMF_GEMV_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define LMF_GEMV_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma")))
#define LMF_GEMV_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

namespace lmf {
namespace {

// Elements of a weight row prefetched ahead (1 KB of 16-bit values).
constexpr int64_t kPrefetchAhead = 512;
// Weight rows per thread range: a multiple of every block height P.
constexpr int64_t kRowUnit = 16;

// The skinny GEMM's epilogue for one output.
inline void finish(const Gemv16Args& g, int64_t i, int64_t j, float sum) {
  float* out = g.y + i * g.ldy + j;
  float base = g.bias ? g.bias[j] : 0.f;
  if (g.beta != 0.f) base += g.beta * *out;
  *out = g.alpha * sum + base;
}

template <DType D>
inline float widen1(uint16_t h) {
  return D == DType::bf16 ? bf16_to_f32(h) : f16_to_f32(h);
}

// Rows [j0, j1) of W for M rows of x; xs is f32 (or packed bf16 for the dot form), row stride ldx.
using RowsFn = void (*)(const Gemv16Args& g, const void* xs, int64_t ldx, int64_t j0, int64_t j1);

// ---- portable ---------------------------------------------------------------------------------------------------

template <int M, DType D>
void rows_portable(const Gemv16Args& g, const void* xs, int64_t ldx, int64_t j0, int64_t j1) {
  const float* x = static_cast<const float*>(xs);
  for (int64_t j = j0; j < j1; ++j) {
    const uint16_t* w = g.w + j * g.ldw;
    float acc[M] = {};
    for (int64_t k = 0; k < g.k; ++k) {
      const float wk = widen1<D>(w[k]);
      for (int i = 0; i < M; ++i) acc[i] += wk * x[i * ldx + k];
    }
    for (int i = 0; i < M; ++i) finish(g, i, j, acc[i]);
  }
}

#if LMF_HAS_X86_TARGETS

// ---- AVX-512, exact ---------------------------------------------------------------------------------------------

template <DType D>
LMF_GEMV_AVX512 inline __m512 widen16(__m256i h) {
  if constexpr (D == DType::bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  return _mm512_cvtph_ps(h);
}

template <int M, int P, DType D>
LMF_GEMV_AVX512 inline void block_avx512(const Gemv16Args& g, const float* x, int64_t ldx, int64_t j) {
  const int64_t K = g.k, ldw = g.ldw;
  const uint16_t* w = g.w + j * ldw;
  __m512 acc[P][M];
  for (int p = 0; p < P; ++p)
    for (int i = 0; i < M; ++i) acc[p][i] = _mm512_setzero_ps();
  int64_t kk = 0;
  for (; kk + 32 <= K; kk += 32) {
    for (int p = 0; p < P; ++p) _mm_prefetch(reinterpret_cast<const char*>(w + p * ldw + kk + kPrefetchAhead), _MM_HINT_T0);
    for (int h = 0; h < 2; ++h) {
      __m512 xv[M];
      for (int i = 0; i < M; ++i) xv[i] = _mm512_loadu_ps(x + i * ldx + kk + 16 * h);
      for (int p = 0; p < P; ++p) {
        const __m512 wv =
            widen16<D>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + p * ldw + kk + 16 * h)));
        for (int i = 0; i < M; ++i) acc[p][i] = _mm512_fmadd_ps(wv, xv[i], acc[p][i]);
      }
    }
  }
  for (; kk < K; kk += 16) {
    const int64_t left = K - kk;
    const __mmask16 m = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u);
    __m512 xv[M];
    for (int i = 0; i < M; ++i) xv[i] = _mm512_maskz_loadu_ps(m, x + i * ldx + kk);
    for (int p = 0; p < P; ++p) {
      const __m512 wv = widen16<D>(_mm256_maskz_loadu_epi16(m, w + p * ldw + kk));
      for (int i = 0; i < M; ++i) acc[p][i] = _mm512_fmadd_ps(wv, xv[i], acc[p][i]);
    }
  }
  for (int p = 0; p < P; ++p)
    for (int i = 0; i < M; ++i) finish(g, i, j + p, _mm512_reduce_add_ps(acc[p][i]));
}

constexpr int p_avx512(int m) { return m == 1 ? 8 : m <= 4 ? 4 : 2; }

template <int M, DType D>
LMF_GEMV_AVX512 void rows_avx512(const Gemv16Args& g, const void* xs, int64_t ldx, int64_t j0, int64_t j1) {
  constexpr int P = p_avx512(M);
  const float* x = static_cast<const float*>(xs);
  int64_t j = j0;
  for (; j + P <= j1; j += P) block_avx512<M, P, D>(g, x, ldx, j);
  for (; j < j1; ++j) block_avx512<M, 1, D>(g, x, ldx, j);
}

// ---- AVX-512 with AVX512_BF16: bf16 weights, x rounded to bf16 ---------------------------------------------------

template <int M, int P>
LMF_GEMV_AVX512_BF16 inline void block_dot(const Gemv16Args& g, const uint16_t* x, int64_t ldx, int64_t j) {
  const int64_t K = g.k, ldw = g.ldw;
  const uint16_t* w = g.w + j * ldw;
  __m512 acc[P][M];
  for (int p = 0; p < P; ++p)
    for (int i = 0; i < M; ++i) acc[p][i] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < K; kk += 32) {
    const int64_t left = K - kk;
    const __mmask32 m = left >= 32 ? __mmask32(0xffffffffu) : __mmask32((1u << left) - 1u);
    __m512i xv[M];
    for (int i = 0; i < M; ++i) xv[i] = _mm512_maskz_loadu_epi16(m, x + i * ldx + kk);
    for (int p = 0; p < P; ++p) {
      _mm_prefetch(reinterpret_cast<const char*>(w + p * ldw + kk + kPrefetchAhead), _MM_HINT_T0);
      const __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(m, w + p * ldw + kk);
      for (int i = 0; i < M; ++i) acc[p][i] = _mm512_dpbf16_ps(acc[p][i], wv, (__m512bh)xv[i]);
    }
  }
  for (int p = 0; p < P; ++p)
    for (int i = 0; i < M; ++i) finish(g, i, j + p, _mm512_reduce_add_ps(acc[p][i]));
}

template <int M, DType D>
LMF_GEMV_AVX512_BF16 void rows_dot(const Gemv16Args& g, const void* xs, int64_t ldx, int64_t j0, int64_t j1) {
  constexpr int P = p_avx512(M);
  const uint16_t* x = static_cast<const uint16_t*>(xs);
  int64_t j = j0;
  for (; j + P <= j1; j += P) block_dot<M, P>(g, x, ldx, j);
  for (; j < j1; ++j) block_dot<M, 1>(g, x, ldx, j);
}

// ---- AVX2 + F16C, exact -----------------------------------------------------------------------------------------

template <DType D>
LMF_GEMV_AVX2 inline __m256 widen8(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (D == DType::bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  return _mm256_cvtph_ps(h);
}

// The 8 lanes summed by halving (4 + 4, 2 + 2, 1 + 1).
LMF_GEMV_AVX2 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

template <int M, int P, DType D>
LMF_GEMV_AVX2 inline void block_avx2(const Gemv16Args& g, const float* x, int64_t ldx, int64_t j) {
  const int64_t K = g.k, ldw = g.ldw;
  const uint16_t* w = g.w + j * ldw;
  __m256 acc[P][M];
  for (int p = 0; p < P; ++p)
    for (int i = 0; i < M; ++i) acc[p][i] = _mm256_setzero_ps();
  int64_t kk = 0;
  for (; kk + 32 <= K; kk += 32) {
    for (int p = 0; p < P; ++p) _mm_prefetch(reinterpret_cast<const char*>(w + p * ldw + kk + kPrefetchAhead), _MM_HINT_T0);
    for (int q = 0; q < 4; ++q) {
      __m256 xv[M];
      for (int i = 0; i < M; ++i) xv[i] = _mm256_loadu_ps(x + i * ldx + kk + 8 * q);
      for (int p = 0; p < P; ++p) {
        const __m256 wv = widen8<D>(w + p * ldw + kk + 8 * q);
        for (int i = 0; i < M; ++i) acc[p][i] = _mm256_fmadd_ps(wv, xv[i], acc[p][i]);
      }
    }
  }
  for (; kk + 8 <= K; kk += 8) {
    __m256 xv[M];
    for (int i = 0; i < M; ++i) xv[i] = _mm256_loadu_ps(x + i * ldx + kk);
    for (int p = 0; p < P; ++p) {
      const __m256 wv = widen8<D>(w + p * ldw + kk);
      for (int i = 0; i < M; ++i) acc[p][i] = _mm256_fmadd_ps(wv, xv[i], acc[p][i]);
    }
  }
  for (int p = 0; p < P; ++p)
    for (int i = 0; i < M; ++i) {
      float s = hsum8(acc[p][i]);
      for (int64_t k = kk; k < K; ++k) s += widen1<D>(w[p * ldw + k]) * x[i * ldx + k];
      finish(g, i, j + p, s);
    }
}

constexpr int p_avx2(int m) { return m <= 2 ? 4 : m <= 4 ? 2 : 1; }

template <int M, DType D>
LMF_GEMV_AVX2 void rows_avx2(const Gemv16Args& g, const void* xs, int64_t ldx, int64_t j0, int64_t j1) {
  constexpr int P = p_avx2(M);
  const float* x = static_cast<const float*>(xs);
  int64_t j = j0;
  for (; j + P <= j1; j += P) block_avx2<M, P, D>(g, x, ldx, j);
  for (; j < j1; ++j) block_avx2<M, 1, D>(g, x, ldx, j);
}

#endif  // LMF_HAS_X86_TARGETS

enum class Form { portable, avx2, avx512, dot };

template <int M, DType D>
RowsFn rows_for(Form f) {
#if LMF_HAS_X86_TARGETS
  switch (f) {
    case Form::dot: return rows_dot<M, D>;
    case Form::avx512: return rows_avx512<M, D>;
    case Form::avx2: return rows_avx2<M, D>;
    default: break;
  }
#else
  (void)f;
#endif
  return rows_portable<M, D>;
}

template <DType D>
RowsFn rows_fn(Form f, int64_t m) {
  switch (m) {
    case 1: return rows_for<1, D>(f);
    case 2: return rows_for<2, D>(f);
    case 3: return rows_for<3, D>(f);
    case 4: return rows_for<4, D>(f);
    case 5: return rows_for<5, D>(f);
    case 6: return rows_for<6, D>(f);
    case 7: return rows_for<7, D>(f);
    default: return rows_for<8, D>(f);
  }
}

// The form this CPU (and the LMFORGE_ISA cap) runs for a weight of dtype d.
Form form_for(DType d, bool bf16_compute) {
#if LMF_HAS_X86_TARGETS
  if (d == DType::bf16 && bf16_compute && bf16_instructions()) return Form::dot;
  switch (isa()) {
    case Isa::avx512: return Form::avx512;
    case Isa::avx2: return cpu_features().f16c || d == DType::bf16 ? Form::avx2 : Form::portable;
    default: break;
  }
#else
  (void)d, (void)bf16_compute;
#endif
  return Form::portable;
}

}  // namespace

bool gemv16(const Gemv16Args& g) {
  if (g.m < 1 || g.m > kGemv16MaxRows || (g.w_dtype != DType::bf16 && g.w_dtype != DType::f16)) return false;
  if (g.n <= 0) return true;
  const Form form = form_for(g.w_dtype, g.bf16);
  const RowsFn rows = g.w_dtype == DType::bf16 ? rows_fn<DType::bf16>(form, g.m) : rows_fn<DType::f16>(form, g.m);
  const void* xs = g.x;
  int64_t ldx = g.ldx;
  thread_local std::vector<uint16_t> x_bf16;
  if (form == Form::dot) {  // x rounded to bf16 once per call, read by every thread
    x_bf16.resize(static_cast<size_t>(g.m * g.k));
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t k = 0; k < g.k; ++k) x_bf16[i * g.k + k] = f32_to_bf16(g.x[i * g.ldx + k]);
    xs = x_bf16.data();
    ldx = g.k;
  }
  const int64_t units = (g.n + kRowUnit - 1) / kRowUnit;
  if (g.parallel && num_threads() > 1 && units > 1 && g.n * g.k * g.m >= (int64_t(1) << 17)) {
    // Chunks claimed as threads come free (parallel_for: ~4 per thread): on a shared machine a worker that starts
    // late leaves its part to the others instead of stalling the product.
    parallel_for(units, 1, [&](int64_t u0, int64_t u1) {
      rows(g, xs, ldx, u0 * kRowUnit, std::min(g.n, u1 * kRowUnit));
    });
  } else {
    rows(g, xs, ldx, 0, g.n);
  }
  return true;
}

}  // namespace lmf
