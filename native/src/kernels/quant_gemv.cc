// The decoding product of a frozen quantized weight: y [m, rows] = x [m, cols] @ W^T (+ bias) for m <= 8, reading
// each quantized byte of W once and never writing a decoded weight to memory (bitsandbytes' gemv_4bit plays this
// part on GPUs). Decoding moves the whole weight once per token, so its time is the weight's bytes over memory
// bandwidth: NF4 streams 0.52 bytes per weight where f32 streams 4.
//
// 4-bit (NF4/FP4), per block of 64 weights (32 bytes, the first weight in the high nibble):
//   the 16 code values are scaled by the block's absmax once;
//   the 64 nibbles are spread to bytes in weight order (shift/mask, then interleave high and low);
//   every 16 (AVX-512) or 8 (AVX2) nibbles become lane indices of a permute that reads the scaled code values,
//   and that vector of weights is multiplied into all m rows of x.
// int8 (LLM.int8() rows): 16 or 8 values widened to f32 at a time, the row scale SCB/127 applied to the finished sum.
// Each output is one row of W's sum over its columns, in an order fixed by the shape (never by the thread count).
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/cpu.h"
#include "core/threadpool.h"
#include "kernels/isa_targets.h"
#include "kernels/quant_matrix.h"

#if LMF_HAS_X86_TARGETS
// GCC 12's AVX-512 headers pass a self-initialised "undefined" vector to the masked builtins behind
// cvtepi8_epi32, cvtepi32_ps and reduce_add_ps, which -Wmaybe-uninitialized reports at every use.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace lmf {
namespace {

constexpr int64_t kBlock = 64;  // weights per fused 4-bit step (one bitsandbytes block, or a 64-part of a larger one)
constexpr int64_t kRowGrain = 16;  // output rows per thread task

// Independent accumulator chains per x row: enough to hide the FMA latency when m is small.
template <int M>
constexpr int chains() {
  return M == 1 ? 4 : M == 2 ? 2 : 1;
}

// ---- portable -------------------------------------------------------------------------------------------------

template <int M>
void q4_rows_portable(const QMatrix& q, const float* x, const float* bias, float* y, int64_t r0, int64_t r1) {
  const int64_t K = q.cols, N = q.rows, per_row = K / q.blocksize;
  for (int64_t r = r0; r < r1; ++r) {
    float acc[M] = {};
    const uint8_t* src = q.data + r * (K / 2);
    for (int64_t b = 0; b < per_row; ++b) {
      float code[16];
      const float s = block_scale(q, r * per_row + b);
      for (int c = 0; c < 16; ++c) code[c] = q.code[c] * s;
      for (int64_t j = b * q.blocksize; j < (b + 1) * q.blocksize; j += 2) {
        const uint8_t byte = src[j >> 1];
        const float w0 = code[byte >> 4], w1 = code[byte & 15];
        for (int i = 0; i < M; ++i) acc[i] += w0 * x[i * K + j] + w1 * x[i * K + j + 1];
      }
    }
    for (int i = 0; i < M; ++i) y[i * N + r] = acc[i] + (bias ? bias[r] : 0.f);
  }
}

template <int M>
void i8_rows_portable(const QMatrix& q, const float* x, const float* bias, float* y, int64_t r0, int64_t r1) {
  const int64_t K = q.cols, N = q.rows;
  const int8_t* data = reinterpret_cast<const int8_t*>(q.data);
  for (int64_t r = r0; r < r1; ++r) {
    float acc[M] = {};
    const int8_t* src = data + r * K;
    for (int64_t k = 0; k < K; ++k)
      for (int i = 0; i < M; ++i) acc[i] += static_cast<float>(src[k]) * x[i * K + k];
    const float s = q.scb[r] * (1.f / 127.f);
    for (int i = 0; i < M; ++i) y[i * N + r] = acc[i] * s + (bias ? bias[r] : 0.f);
  }
}

#if LMF_HAS_X86_TARGETS

// The 64 nibbles of 32 bytes as bytes in weight order: lo128(a) = w0..15, hi128(a) = w32..47, lo128(b) = w16..31,
// hi128(b) = w48..63.
LMF_TARGET_AVX2 inline void spread_nibbles(const uint8_t* src, __m256i& a, __m256i& b) {
  const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
  const __m256i mask = _mm256_set1_epi8(15);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
  const __m256i lo = _mm256_and_si256(bytes, mask);
  a = _mm256_unpacklo_epi8(hi, lo);
  b = _mm256_unpackhi_epi8(hi, lo);
}

// ---- AVX-512 --------------------------------------------------------------------------------------------------

template <int M>
LMF_TARGET_AVX512 void q4_rows_avx512(const QMatrix& q, const float* x, const float* bias, float* y, int64_t r0,
                                      int64_t r1) {
  constexpr int C = chains<M>();
  const int64_t K = q.cols, N = q.rows, per_row = K / q.blocksize, steps = q.blocksize / kBlock;
  const __m512 code = _mm512_loadu_ps(q.code);
  for (int64_t r = r0; r < r1; ++r) {
    __m512 acc[M][C];
    for (int i = 0; i < M; ++i)
      for (int c = 0; c < C; ++c) acc[i][c] = _mm512_setzero_ps();
    const uint8_t* src = q.data + r * (K / 2);
    for (int64_t b = 0; b < per_row; ++b) {
      const __m512 scaled = _mm512_mul_ps(code, _mm512_set1_ps(block_scale(q, r * per_row + b)));
      for (int64_t t = 0; t < steps; ++t) {
        const int64_t k0 = (b * steps + t) * kBlock;
        __m256i a, bb;
        spread_nibbles(src + k0 / 2, a, bb);
        const __m128i parts[4] = {_mm256_castsi256_si128(a), _mm256_castsi256_si128(bb),
                                  _mm256_extracti128_si256(a, 1), _mm256_extracti128_si256(bb, 1)};
        for (int p = 0; p < 4; ++p) {
          const __m512 w = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(parts[p]), scaled);
          for (int i = 0; i < M; ++i)
            acc[i][p % C] = _mm512_fmadd_ps(w, _mm512_loadu_ps(x + i * K + k0 + 16 * p), acc[i][p % C]);
        }
      }
    }
    for (int i = 0; i < M; ++i) {
      __m512 sum = acc[i][0];
      for (int c = 1; c < C; ++c) sum = _mm512_add_ps(sum, acc[i][c]);
      y[i * N + r] = _mm512_reduce_add_ps(sum) + (bias ? bias[r] : 0.f);
    }
  }
}

template <int M>
LMF_TARGET_AVX512 void i8_rows_avx512(const QMatrix& q, const float* x, const float* bias, float* y, int64_t r0,
                                      int64_t r1) {
  constexpr int C = chains<M>();
  const int64_t K = q.cols, N = q.rows;
  const int8_t* data = reinterpret_cast<const int8_t*>(q.data);
  for (int64_t r = r0; r < r1; ++r) {
    __m512 acc[M][C];
    for (int i = 0; i < M; ++i)
      for (int c = 0; c < C; ++c) acc[i][c] = _mm512_setzero_ps();
    const int8_t* src = data + r * K;
    int64_t k = 0;
    for (int64_t step = 0; k < K; k += 16, ++step) {
      const int64_t left = K - k;
      const __mmask16 m16 = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
      const __m512 w = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_mask_loadu_epi8(_mm_setzero_si128(), m16, src + k)));
      for (int i = 0; i < M; ++i)
        acc[i][step % C] = _mm512_fmadd_ps(w, _mm512_mask_loadu_ps(_mm512_setzero_ps(), m16, x + i * K + k), acc[i][step % C]);
    }
    const float s = q.scb[r] * (1.f / 127.f);
    for (int i = 0; i < M; ++i) {
      __m512 sum = acc[i][0];
      for (int c = 1; c < C; ++c) sum = _mm512_add_ps(sum, acc[i][c]);
      y[i * N + r] = _mm512_reduce_add_ps(sum) * s + (bias ? bias[r] : 0.f);
    }
  }
}

// ---- AVX2 -----------------------------------------------------------------------------------------------------

LMF_TARGET_AVX2 inline float hsum256(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

template <int M>
LMF_TARGET_AVX2 void q4_rows_avx2(const QMatrix& q, const float* x, const float* bias, float* y, int64_t r0,
                                  int64_t r1) {
  constexpr int C = chains<M>();
  const int64_t K = q.cols, N = q.rows, per_row = K / q.blocksize, steps = q.blocksize / kBlock;
  const __m256 code_lo = _mm256_loadu_ps(q.code), code_hi = _mm256_loadu_ps(q.code + 8);
  for (int64_t r = r0; r < r1; ++r) {
    __m256 acc[M][C];
    for (int i = 0; i < M; ++i)
      for (int c = 0; c < C; ++c) acc[i][c] = _mm256_setzero_ps();
    const uint8_t* src = q.data + r * (K / 2);
    for (int64_t b = 0; b < per_row; ++b) {
      const __m256 s = _mm256_set1_ps(block_scale(q, r * per_row + b));
      const __m256 lo = _mm256_mul_ps(code_lo, s), hi = _mm256_mul_ps(code_hi, s);
      for (int64_t t = 0; t < steps; ++t) {
        const int64_t k0 = (b * steps + t) * kBlock;
        __m256i a, bb;
        spread_nibbles(src + k0 / 2, a, bb);
        const __m128i parts[4] = {_mm256_castsi256_si128(a), _mm256_castsi256_si128(bb),
                                  _mm256_extracti128_si256(a, 1), _mm256_extracti128_si256(bb, 1)};
        for (int p = 0; p < 8; ++p) {
          const __m128i bytes = (p & 1) ? _mm_srli_si128(parts[p >> 1], 8) : parts[p >> 1];
          const __m256i idx = _mm256_cvtepu8_epi32(bytes);
          // Indices 8..15 (bit 3 set) take the upper half of the code: bit 3 moved to the sign selects it.
          const __m256 sel = _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28));
          const __m256 w =
              _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx), _mm256_permutevar8x32_ps(hi, idx), sel);
          for (int i = 0; i < M; ++i)
            acc[i][p % C] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + i * K + k0 + 8 * p), acc[i][p % C]);
        }
      }
    }
    for (int i = 0; i < M; ++i) {
      __m256 sum = acc[i][0];
      for (int c = 1; c < C; ++c) sum = _mm256_add_ps(sum, acc[i][c]);
      y[i * N + r] = hsum256(sum) + (bias ? bias[r] : 0.f);
    }
  }
}

template <int M>
LMF_TARGET_AVX2 void i8_rows_avx2(const QMatrix& q, const float* x, const float* bias, float* y, int64_t r0,
                                  int64_t r1) {
  constexpr int C = chains<M>();
  const int64_t K = q.cols, N = q.rows, body = K / 8 * 8;
  const int8_t* data = reinterpret_cast<const int8_t*>(q.data);
  for (int64_t r = r0; r < r1; ++r) {
    __m256 acc[M][C];
    for (int i = 0; i < M; ++i)
      for (int c = 0; c < C; ++c) acc[i][c] = _mm256_setzero_ps();
    const int8_t* src = data + r * K;
    int64_t step = 0;
    for (int64_t k = 0; k < body; k += 8, ++step) {
      int64_t eight;
      std::memcpy(&eight, src + k, 8);
      const __m256 w = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(eight)));
      for (int i = 0; i < M; ++i)
        acc[i][step % C] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + i * K + k), acc[i][step % C]);
    }
    const float s = q.scb[r] * (1.f / 127.f);
    for (int i = 0; i < M; ++i) {
      __m256 sum = acc[i][0];
      for (int c = 1; c < C; ++c) sum = _mm256_add_ps(sum, acc[i][c]);
      float total = hsum256(sum);
      for (int64_t k = body; k < K; ++k) total += static_cast<float>(src[k]) * x[i * K + k];
      y[i * N + r] = total * s + (bias ? bias[r] : 0.f);
    }
  }
}

#endif  // LMF_HAS_X86_TARGETS

using RowsFn = void (*)(const QMatrix&, const float*, const float*, float*, int64_t, int64_t);

template <int M>
RowsFn rows_for(bool four) {
#if LMF_HAS_X86_TARGETS
  switch (isa()) {
    case Isa::avx512: return four ? q4_rows_avx512<M> : i8_rows_avx512<M>;
    case Isa::avx2: return four ? q4_rows_avx2<M> : i8_rows_avx2<M>;
    default: break;
  }
#endif
  return four ? q4_rows_portable<M> : i8_rows_portable<M>;
}

RowsFn rows_fn(bool four, int64_t m) {
  switch (m) {
    case 1: return rows_for<1>(four);
    case 2: return rows_for<2>(four);
    case 3: return rows_for<3>(four);
    case 4: return rows_for<4>(four);
    case 5: return rows_for<5>(four);
    case 6: return rows_for<6>(four);
    case 7: return rows_for<7>(four);
    default: return rows_for<8>(four);
  }
}

}  // namespace

bool qgemv(const QMatrix& q, const float* x, int64_t m, const float* bias, float* y) {
  if (m < 1 || m > kQgemvMaxRows) return false;
  const bool four = q.type == kNf4 || q.type == kFp4;
  if (four && (q.blocksize % kBlock != 0 || q.cols % q.blocksize != 0)) return false;
  const RowsFn rows = rows_fn(four, m);
  parallel_for(q.rows, kRowGrain, [&](int64_t b, int64_t e) { rows(q, x, bias, y, b, e); });
  return true;
}

}  // namespace lmf
