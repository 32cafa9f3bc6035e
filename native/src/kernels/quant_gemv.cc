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
//
// bf16 compute (QLoRA's bnb_4bit_compute_dtype, the same products as the tiled prefill): each weight is
// bf16(code * absmax) and x is rounded to bf16, with f32 sums. With AVX512_BF16 the 4-bit kernel stays in bf16: per
// block the scaled code is rounded to 16 bf16 values once, 32 bytes of W widen to 32 words whose high and low nibbles
// index that table (one vpermw per 32 weights), and vdpbf16ps multiplies them into x, packed once per call in the
// matching order (per 64 columns: the even ones, then the odd ones). Elsewhere the f32 kernels round the scaled code
// and x the same way; a product of two bf16 values is exact in f32, so only the summation order differs.
// int8 keeps its f32 product under bf16 compute.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include <vector>

#include "core/cpu.h"
#include "core/dtype.h"
#include "core/threadpool.h"
#include "kernels/isa_targets.h"
#include "kernels/quant_matrix.h"

#if LMF_HAS_X86_TARGETS
// GCC 12's AVX-512 headers pass a self-initialised "undefined" vector to the masked builtins behind
// cvtepi8_epi32, cvtepi32_ps and reduce_add_ps, which -Wmaybe-uninitialized reports at every use.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define LMF_TARGET_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma")))
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

// The epilogue every kernel shares: the C chains of each x row's accumulator vectors V (a GCC vector type: __m512,
// __m256) summed, then the lanes by halving (the order _mm512_reduce_add_ps and a 256-bit hsum use).
template <int M, int C, class V>
LMF_INLINE void sum_chains(V (&acc)[M][C], float (&out)[M]) {
  constexpr int kLanes = sizeof(V) / sizeof(float);
  for (int i = 0; i < M; ++i) {
    V v = acc[i][0];
    for (int c = 1; c < C; ++c) v += acc[i][c];
    float lanes[kLanes];
    std::memcpy(lanes, &v, sizeof v);
    for (int half = kLanes / 2; half >= 1; half /= 2)
      for (int l = 0; l < half; ++l) lanes[l] += lanes[l + half];
    out[i] = lanes[0];
  }
}

// y[i, r] = total[i] * scale + bias[r] for the M rows of x.
template <int M>
LMF_INLINE void store_row(const float (&total)[M], float scale, const float* bias, float* y, int64_t N, int64_t r) {
  for (int i = 0; i < M; ++i) y[i * N + r] = total[i] * scale + (bias ? bias[r] : 0.f);
}

// The 16 code values times a block's scale, rounded to bf16 (kept as f32) when Bf16.
template <bool Bf16>
LMF_INLINE float scaled_code(float code, float s) {
  const float v = code * s;
  return Bf16 ? bf16_to_f32(f32_to_bf16(v)) : v;
}

// ---- portable -------------------------------------------------------------------------------------------------

template <int M, bool Bf16>
void q4_rows_portable(const QMatrix& q, const float* x, const float* bias, float* y, int64_t r0, int64_t r1) {
  const int64_t K = q.cols, N = q.rows, per_row = K / q.blocksize;
  for (int64_t r = r0; r < r1; ++r) {
    float acc[M] = {};
    const uint8_t* src = q.data + r * (K / 2);
    for (int64_t b = 0; b < per_row; ++b) {
      float code[16];
      const float s = block_scale(q, r * per_row + b);
      for (int c = 0; c < 16; ++c) code[c] = scaled_code<Bf16>(q.code[c], s);
      for (int64_t j = b * q.blocksize; j < (b + 1) * q.blocksize; j += 2) {
        const uint8_t byte = src[j >> 1];
        const float w0 = code[byte >> 4], w1 = code[byte & 15];
        for (int i = 0; i < M; ++i) acc[i] += w0 * x[i * K + j] + w1 * x[i * K + j + 1];
      }
    }
    store_row<M>(acc, 1.f, bias, y, N, r);
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
    store_row<M>(acc, q.scb[r] * (1.f / 127.f), bias, y, N, r);
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

// Each lane rounded to the nearest bf16, ties to even (finite values: the scaled code), kept as f32.
LMF_TARGET_AVX512 inline __m512 round_bf16(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i up = _mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff)));
  return _mm512_castsi512_ps(_mm512_and_si512(up, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
}

template <int M, bool Bf16>
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
      __m512 scaled = _mm512_mul_ps(code, _mm512_set1_ps(block_scale(q, r * per_row + b)));
      if (Bf16) scaled = round_bf16(scaled);
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
    float total[M];
    sum_chains(acc, total);
    store_row<M>(total, 1.f, bias, y, N, r);
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
    float total[M];
    sum_chains(acc, total);
    store_row<M>(total, q.scb[r] * (1.f / 127.f), bias, y, N, r);
  }
}

// ---- AVX2 -----------------------------------------------------------------------------------------------------

LMF_TARGET_AVX2 inline __m256 round_bf16(__m256 v) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i up = _mm256_add_epi32(bits, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff)));
  return _mm256_castsi256_ps(_mm256_and_si256(up, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
}

template <int M, bool Bf16>
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
      __m256 lo = _mm256_mul_ps(code_lo, s), hi = _mm256_mul_ps(code_hi, s);
      if (Bf16) lo = round_bf16(lo), hi = round_bf16(hi);
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
    float total[M];
    sum_chains(acc, total);
    store_row<M>(total, 1.f, bias, y, N, r);
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
    float total[M];
    sum_chains(acc, total);
    for (int i = 0; i < M; ++i)
      for (int64_t k = body; k < K; ++k) total[i] += static_cast<float>(src[k]) * x[i * K + k];
    store_row<M>(total, q.scb[r] * (1.f / 127.f), bias, y, N, r);
  }
}

// ---- AVX-512 with AVX512_BF16 (bf16 compute, 4-bit) -----------------------------------------------------------

// The `count` block scales from block `first` into out: block_scale's values, without its division per block (which
// costs the bf16 kernels more than a block's products).
inline void row_scales(const QMatrix& q, int64_t first, int64_t count, float* out) {
  if (!q.qabsmax) {
    std::memcpy(out, q.absmax + first, count * sizeof(float));
    return;
  }
  int64_t nested = first / q.nested_blocksize, left = (nested + 1) * q.nested_blocksize - first;
  for (int64_t i = 0; i < count; ++i, --left) {
    if (left == 0) ++nested, left = q.nested_blocksize;
    out[i] = q.nested_code[q.qabsmax[first + i]] * q.nested_absmax[nested] + q.offset;
  }
}

// xb: x [M, K] as bf16, per 64 columns the 32 even ones then the 32 odd ones (pack_x_bf16).
template <int M>
LMF_TARGET_AVX512_BF16 void q4_rows_avx512_bf16(const QMatrix& q, const uint16_t* xb, const float* bias, float* y,
                                                int64_t r0, int64_t r1) {
  constexpr int C = 2 * chains<M>();  // two products per 64 weights
  const int64_t K = q.cols, N = q.rows, per_row = K / q.blocksize, steps = q.blocksize / kBlock;
  const __m512 code = _mm512_loadu_ps(q.code);
  const __m512i low_nibble = _mm512_set1_epi16(15);
  thread_local std::vector<float> scales;
  scales.resize(per_row);
  for (int64_t r = r0; r < r1; ++r) {
    __m512 acc[M][C];
    for (int i = 0; i < M; ++i)
      for (int c = 0; c < C; ++c) acc[i][c] = _mm512_setzero_ps();
    const uint8_t* src = q.data + r * (K / 2);
    row_scales(q, r * per_row, per_row, scales.data());
    int step = 0;
    for (int64_t b = 0; b < per_row; ++b) {
      // the block's 16 weights values as bf16 words 0..15 (the permute's indices never reach the upper half)
      const __m256bh scaled = _mm512_cvtneps_pbh(_mm512_mul_ps(code, _mm512_set1_ps(scales[b])));
      const __m512i table = _mm512_zextsi256_si512((__m256i)scaled);
      for (int64_t t = 0; t < steps; ++t, step += 2) {
        const int64_t k0 = (b * steps + t) * kBlock;
        // 32 bytes as 32 words: the high nibbles are weights k0, k0+2, ..., the low ones k0+1, k0+3, ...
        const __m512i bytes = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + k0 / 2)));
        const __m512bh even = (__m512bh)_mm512_permutexvar_epi16(_mm512_srli_epi16(bytes, 4), table);
        const __m512bh odd = (__m512bh)_mm512_permutexvar_epi16(_mm512_and_si512(bytes, low_nibble), table);
        for (int i = 0; i < M; ++i) {
          const uint16_t* xk = xb + i * K + k0;
          __m512& a0 = acc[i][step % C];
          __m512& a1 = acc[i][(step + 1) % C];
          a0 = _mm512_dpbf16_ps(a0, even, (__m512bh)_mm512_loadu_si512(xk));
          a1 = _mm512_dpbf16_ps(a1, odd, (__m512bh)_mm512_loadu_si512(xk + 32));
        }
      }
    }
    float total[M];
    sum_chains(acc, total);
    store_row<M>(total, 1.f, bias, y, N, r);
  }
}

// The same products for 1 or 2 rows of x and blocks of 64 (K a multiple of 128), two blocks per 64-byte load: the
// table holds block b's 16 bf16 values in words 0..15 and block b+1's in 16..31, and word w of the load (bytes 2w,
// 2w+1: weights 4w..4w+3) gives four index sets by shifts 4, 0, 12, 8, the upper 16 words offset by 16 into block
// b+1's half. Fewer instructions per weight where few x rows leave decoding the cost. xb: pack_x_bf16_quads.
template <int M>
LMF_TARGET_AVX512_BF16 void q4_pairs_avx512_bf16(const QMatrix& q, const uint16_t* xb, const float* bias, float* y,
                                                 int64_t r0, int64_t r1) {
  const int64_t K = q.cols, N = q.rows, per_row = K / kBlock;
  const __m512 code = _mm512_loadu_ps(q.code);
  const __m512i nibble = _mm512_set1_epi16(15);
  const __m512i second = _mm512_maskz_mov_epi16(0xffff0000u, _mm512_set1_epi16(16));  // 16 in words 16..31
  thread_local std::vector<float> scales;
  scales.resize(per_row);
  for (int64_t r = r0; r < r1; ++r) {
    __m512 acc[M][4];
    for (int i = 0; i < M; ++i)
      for (int c = 0; c < 4; ++c) acc[i][c] = _mm512_setzero_ps();
    const uint8_t* src = q.data + r * (K / 2);
    row_scales(q, r * per_row, per_row, scales.data());
    for (int64_t b = 0; b < per_row; b += 2) {
      const __m512i table = (__m512i)_mm512_cvtne2ps_pbh(_mm512_mul_ps(code, _mm512_set1_ps(scales[b + 1])),
                                                          _mm512_mul_ps(code, _mm512_set1_ps(scales[b])));
      const __m512i z = _mm512_loadu_si512(src + b * (kBlock / 2));
      // (a & 15) | second: ternary-logic truth table 0xEA
      const __m512bh w[4] = {
          (__m512bh)_mm512_permutexvar_epi16(_mm512_ternarylogic_epi32(_mm512_srli_epi16(z, 4), nibble, second, 0xEA),
                                             table),
          (__m512bh)_mm512_permutexvar_epi16(_mm512_ternarylogic_epi32(z, nibble, second, 0xEA), table),
          (__m512bh)_mm512_permutexvar_epi16(_mm512_or_si512(_mm512_srli_epi16(z, 12), second), table),
          (__m512bh)_mm512_permutexvar_epi16(_mm512_ternarylogic_epi32(_mm512_srli_epi16(z, 8), nibble, second, 0xEA),
                                             table)};
      for (int i = 0; i < M; ++i) {
        const uint16_t* xk = xb + i * K + b * kBlock;
        for (int p = 0; p < 4; ++p) acc[i][p] = _mm512_dpbf16_ps(acc[i][p], w[p], (__m512bh)_mm512_loadu_si512(xk + 32 * p));
      }
    }
    float total[M];
    sum_chains(acc, total);
    store_row<M>(total, 1.f, bias, y, N, r);
  }
}

#endif  // LMF_HAS_X86_TARGETS

// x [m, K] (K a multiple of 128) as bf16 in the pairs kernel's order: per 128 columns, four sets of 32, set p holding
// columns 4w + p for w = 0..31.
void pack_x_bf16_quads(const float* x, int64_t m, int64_t K, uint16_t* out) {
  for (int64_t i = 0; i < m * K; i += 2 * kBlock)
    for (int p = 0; p < 4; ++p)
      for (int w = 0; w < 32; ++w) out[i + 32 * p + w] = f32_to_bf16(x[i + 4 * w + p]);
}

// x [m, K] (K a multiple of 64) as bf16 in the bf16 kernel's order: per 64 columns, the even ones then the odd ones.
void pack_x_bf16(const float* x, int64_t m, int64_t K, uint16_t* out) {
  for (int64_t i = 0; i < m * K; i += kBlock)
    for (int64_t j = 0; j < kBlock / 2; ++j) {
      out[i + j] = f32_to_bf16(x[i + 2 * j]);
      out[i + kBlock / 2 + j] = f32_to_bf16(x[i + 2 * j + 1]);
    }
}

using RowsFn = void (*)(const QMatrix&, const float*, const float*, float*, int64_t, int64_t);
using Bf16RowsFn = void (*)(const QMatrix&, const uint16_t*, const float*, float*, int64_t, int64_t);

template <int M, bool Bf16>
RowsFn rows_for(bool four) {
#if LMF_HAS_X86_TARGETS
  switch (isa()) {
    case Isa::avx512: return four ? q4_rows_avx512<M, Bf16> : i8_rows_avx512<M>;
    case Isa::avx2: return four ? q4_rows_avx2<M, Bf16> : i8_rows_avx2<M>;
    default: break;
  }
#endif
  return four ? q4_rows_portable<M, Bf16> : i8_rows_portable<M>;
}

RowsFn rows_fn(bool four, bool bf16, int64_t m) {
  switch (m) {
    case 1: return bf16 ? rows_for<1, true>(four) : rows_for<1, false>(four);
    case 2: return bf16 ? rows_for<2, true>(four) : rows_for<2, false>(four);
    case 3: return bf16 ? rows_for<3, true>(four) : rows_for<3, false>(four);
    case 4: return bf16 ? rows_for<4, true>(four) : rows_for<4, false>(four);
    case 5: return bf16 ? rows_for<5, true>(four) : rows_for<5, false>(four);
    case 6: return bf16 ? rows_for<6, true>(four) : rows_for<6, false>(four);
    case 7: return bf16 ? rows_for<7, true>(four) : rows_for<7, false>(four);
    default: return bf16 ? rows_for<8, true>(four) : rows_for<8, false>(four);
  }
}

}  // namespace

bool qgemv(const QMatrix& q, const float* x, int64_t m, const float* bias, float* y, bool bf16) {
  if (m < 1 || m > kQgemvMaxRows) return false;
  const bool four = q.type == kNf4 || q.type == kFp4;
  if (four && (q.blocksize % kBlock != 0 || q.cols % q.blocksize != 0)) return false;
  const int64_t K = q.cols;
  thread_local std::vector<float> x_f32;
  thread_local std::vector<uint16_t> x_bf16;
#if LMF_HAS_X86_TARGETS
  if (four && bf16 && bf16_instructions()) {
    x_bf16.resize(m * K);
    if (m <= 2 && q.blocksize == kBlock && K % (2 * kBlock) == 0) {
      pack_x_bf16_quads(x, m, K, x_bf16.data());
      const Bf16RowsFn rows = m == 1 ? q4_pairs_avx512_bf16<1> : q4_pairs_avx512_bf16<2>;
      const uint16_t* xb = x_bf16.data();
      parallel_for(q.rows, kRowGrain, [&](int64_t b, int64_t e) { rows(q, xb, bias, y, b, e); });
      return true;
    }
    Bf16RowsFn rows = nullptr;
    switch (m) {
      case 1: rows = q4_rows_avx512_bf16<1>; break;
      case 2: rows = q4_rows_avx512_bf16<2>; break;
      case 3: rows = q4_rows_avx512_bf16<3>; break;
      case 4: rows = q4_rows_avx512_bf16<4>; break;
      case 5: rows = q4_rows_avx512_bf16<5>; break;
      case 6: rows = q4_rows_avx512_bf16<6>; break;
      case 7: rows = q4_rows_avx512_bf16<7>; break;
      default: rows = q4_rows_avx512_bf16<8>; break;
    }
    pack_x_bf16(x, m, K, x_bf16.data());
    const uint16_t* xb = x_bf16.data();
    parallel_for(q.rows, kRowGrain, [&](int64_t b, int64_t e) { rows(q, xb, bias, y, b, e); });
    return true;
  }
#endif
  const bool round = four && bf16;  // int8 keeps its f32 product
  if (round) {
    x_f32.resize(m * K);
    for (int64_t i = 0; i < m * K; ++i) x_f32[i] = bf16_to_f32(f32_to_bf16(x[i]));
    x = x_f32.data();
  }
  const RowsFn rows = rows_fn(four, round, m);
  parallel_for(q.rows, kRowGrain, [&](int64_t b, int64_t e) { rows(q, x, bias, y, b, e); });
  return true;
}

}  // namespace lmf
