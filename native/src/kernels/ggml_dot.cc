// Products with a frozen weight kept in ggml's block formats (a GGUF base: Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K,
// Q6_K; layouts in ggml_blocks.cc), read with integer dot products as llama.cpp reads them.
//
// W [rows = out, cols = in] is stored row by row, each row a whole number of blocks. Every format is unpacked, one
// row at a time, into the same form: unsigned 8-bit levels u [cols] (signed for Q8_0) and, per 16 values g, a float
// scale S[g] and offset M[g] with w = S[g] * u - M[g]:
//   Q8_0  S = d, M = 0 (u signed)      Q4_0  S = d, M = 8 d      Q5_0  S = d, M = 16 d      Q5_1  S = d, M = -m
//   Q4_K  S = d sc, M = dmin mn         Q5_K  as Q4_K with 5-bit levels      Q6_K  S = d sc, M = 32 d sc
// Decoding (x with up to kStreamRows rows): each x row is quantized to int8 in 32-value blocks (scale dx = amax / 127,
// as llama.cpp's q8 activation blocks), then per 16 values the integer dot sum(u * xq) comes from AVX-512 VNNI
// vpdpbusd or AVX2 vpmaddubsw, and y = sum_g dx[g] (S[g] dot[g] - M[g] sum(xq)[g]). One x row takes the fused row
// dot of ggml_row_dots.h (Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q6_K read from their packed bytes). Two or more (a decoding
// batch, a short prompt) take ggml_rows_dot.h's batched dots: each weight block is unpacked once, into registers
// (VNNI: Q8_0, Q4_0, Q4_K, Q6_K) or into one unpacked row (the other formats, AVX2), and dotted against up to 8 x
// rows; a row's output there does not depend on the batch. The portable path unpacks a row once for all x rows.
// More rows (prefill, training): W is dequantized tile by tile into the blocked GEMM, as the bitsandbytes formats are.
// Every output is summed in an order that does not depend on the thread count.
#if defined(__x86_64__) || defined(__i386__)
// GCC 12's AVX-512 headers pass a self-initialised "undefined" vector to the masked builtins behind reduce_max_ps,
// cvtps_epi32, cvtepi32_epi8 and reduce_add_ps, which -W(maybe-)uninitialized reports at every use.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/cpu.h"
#include "core/dtype.h"
#include "core/napi_util.h"
#include "core/registry.h"
#include "core/storage.h"
#include "core/threadpool.h"
#include "kernels/decoded_tiles.h"
#include "kernels/gemm.h"
#include "kernels/ggml_row_dots.h"
#include "kernels/ggml_rows_dot.h"
#include "kernels/isa_targets.h"

namespace lmf {
namespace {

enum GgmlType : int { kQ4_0 = 2, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14 };

struct GgmlMatrix {
  int type = 0;
  int64_t rows = 0, cols = 0;
  int64_t block_elements = 0, block_bytes = 0;
  const uint8_t* data = nullptr;
  const uint8_t* row(int64_t r) const { return data + r * (cols / block_elements) * block_bytes; }
};

bool format_of(int type, int64_t* elements, int64_t* bytes) {
  switch (type) {
    case kQ4_0: *elements = 32, *bytes = 18; return true;
    case kQ5_0: *elements = 32, *bytes = 22; return true;
    case kQ5_1: *elements = 32, *bytes = 24; return true;
    case kQ8_0: *elements = 32, *bytes = 34; return true;
    case kQ4_K: *elements = 256, *bytes = 144; return true;
    case kQ5_K: *elements = 256, *bytes = 176; return true;
    case kQ6_K: *elements = 256, *bytes = 210; return true;
    default: return false;
  }
}

LMF_INLINE float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// One row of W into levels u [cols] and per-16 S, M [cols / 16].
// q8_offset: Q8_0's signed levels w go in as w + 128 (M = 128 d), the unsigned form vpdpbusd multiplies.
LMF_INLINE void unpack_row_body(const GgmlMatrix* wp, int64_t r, uint8_t* __restrict u, float* __restrict S,
                                float* __restrict M, bool q8_offset) {
  const GgmlMatrix& w = *wp;
  const uint8_t* b = w.row(r);
  const int64_t blocks = w.cols / w.block_elements;
  for (int64_t i = 0; i < blocks; ++i, b += w.block_bytes, u += w.block_elements, S += w.block_elements / 16,
               M += w.block_elements / 16) {
    switch (w.type) {
      case kQ8_0: {
        const float d = half_at(b);
        if (q8_offset)
          for (int j = 0; j < 32; ++j) u[j] = b[2 + j] ^ 0x80;
        else
          std::memcpy(u, b + 2, 32);
        S[0] = S[1] = d;
        M[0] = M[1] = q8_offset ? 128.f * d : 0.f;
        break;
      }
      case kQ4_0: {
        const float d = half_at(b);
        for (int j = 0; j < 16; ++j) {
          u[j] = b[2 + j] & 0xF;
          u[j + 16] = b[2 + j] >> 4;
        }
        S[0] = S[1] = d;
        M[0] = M[1] = 8.f * d;
        break;
      }
      case kQ5_0:
      case kQ5_1: {
        const bool q51 = w.type == kQ5_1;
        const float d = half_at(b), m = q51 ? half_at(b + 2) : 0.f;
        uint32_t qh;
        std::memcpy(&qh, b + (q51 ? 4 : 2), 4);
        const uint8_t* qs = b + (q51 ? 8 : 6);
        for (int j = 0; j < 16; ++j) {
          u[j] = (qs[j] & 0xF) | (((qh >> j) & 1) << 4);
          u[j + 16] = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
        }
        S[0] = S[1] = d;
        M[0] = M[1] = q51 ? -m : 16.f * d;
        break;
      }
      case kQ4_K:
      case kQ5_K: {
        const bool q5 = w.type == kQ5_K;
        const float d = half_at(b), dmin = half_at(b + 2);
        const uint8_t* scales = b + 4;
        const uint8_t* qh = b + 16;
        const uint8_t* q = b + (q5 ? 48 : 16);
        for (int k = 0; k < 4; ++k, q += 32) {
          uint8_t* lo = u + 64 * k;
          uint8_t* hi = lo + 32;
          for (int l = 0; l < 32; ++l) {
            lo[l] = q[l] & 0xF;
            hi[l] = q[l] >> 4;
          }
          if (q5)
            for (int l = 0; l < 32; ++l) {
              lo[l] |= ((qh[l] >> (2 * k)) & 1) << 4;
              hi[l] |= ((qh[l] >> (2 * k + 1)) & 1) << 4;
            }
          for (int h = 0; h < 2; ++h) {
            int sc, mn;
            q4k_scale_min(2 * k + h, scales, &sc, &mn);
            S[4 * k + 2 * h] = S[4 * k + 2 * h + 1] = d * sc;
            M[4 * k + 2 * h] = M[4 * k + 2 * h + 1] = dmin * mn;
          }
        }
        break;
      }
      case kQ6_K: {
        const float d = half_at(b + 208);
        const uint8_t* ql = b;
        const uint8_t* qh = b + 128;
        const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
        for (int n = 0; n < 2; ++n, ql += 64, qh += 32) {
          uint8_t* o = u + 128 * n;
          for (int l = 0; l < 32; ++l) {
            o[l] = (ql[l] & 0xF) | ((qh[l] & 3) << 4);
            o[l + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
            o[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
            o[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
          }
        }
        for (int g = 0; g < 16; ++g) {
          S[g] = d * sc[g];
          M[g] = 32.f * S[g];
        }
        break;
      }
    }
  }
}

#if LMF_HAS_X86_TARGETS
LMF_TARGET_AVX2 LMF_INLINE __m256i load32(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
LMF_TARGET_AVX2 LMF_INLINE void store(uint8_t* o, __m256i v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), v); }
// 16 packed bytes -> 32 levels: value j in the low nibble of byte j, j + 16 in its high one.
LMF_TARGET_AVX2 LMF_INLINE __m256i nibbles(const uint8_t* q) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
}

// unpack_row_body's levels and scales, with the levels unpacked 32 at a time in AVX2 registers (the compiler's own
// vectorization of the scalar loops inserts bytes one by one).
LMF_TARGET_AVX2 void unpack_row_simd(const GgmlMatrix* wp, int64_t r, uint8_t* __restrict u, float* __restrict S,
                                     float* __restrict M, bool q8_offset) {
  const GgmlMatrix& w = *wp;
  const uint8_t* b = w.row(r);
  const int64_t blocks = w.cols / w.block_elements;
  const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  for (int64_t i = 0; i < blocks; ++i, b += w.block_bytes, u += w.block_elements, S += w.block_elements / 16,
               M += w.block_elements / 16) {
    switch (w.type) {
      case kQ8_0: {
        const float d = half_at(b);
        const __m256i v = load32(b + 2);
        store(u, q8_offset ? _mm256_xor_si256(v, _mm256_set1_epi8(static_cast<char>(0x80))) : v);
        S[0] = S[1] = d;
        M[0] = M[1] = q8_offset ? 128.f * d : 0.f;
        break;
      }
      case kQ4_0: {
        const float d = half_at(b);
        store(u, nibbles(b + 2));
        S[0] = S[1] = d;
        M[0] = M[1] = 8.f * d;
        break;
      }
      case kQ5_0:
      case kQ5_1: {
        const bool q51 = w.type == kQ5_1;
        const float d = half_at(b), m = q51 ? half_at(b + 2) : 0.f;
        uint32_t qh;
        std::memcpy(&qh, b + (q51 ? 4 : 2), 4);
        // byte v gets bit v of qh: each byte keeps its own bit (OR with all the others set) and compares
        const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
        const __m256i bits = _mm256_or_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)), spread),
                                             _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
        const __m256i high = _mm256_and_si256(_mm256_cmpeq_epi8(bits, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(0x10));
        store(u, _mm256_or_si256(nibbles(b + (q51 ? 8 : 6)), high));
        S[0] = S[1] = d;
        M[0] = M[1] = q51 ? -m : 16.f * d;
        break;
      }
      case kQ4_K:
      case kQ5_K: {
        const bool q5 = w.type == kQ5_K;
        const float d = half_at(b), dmin = half_at(b + 2);
        const uint8_t* scales = b + 4;
        const __m256i qh = q5 ? load32(b + 16) : _mm256_setzero_si256();
        const uint8_t* q = b + (q5 ? 48 : 16);
        for (int k = 0; k < 4; ++k) {
          const __m256i v = load32(q + 32 * k);
          __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
          if (q5) {
            const __m128i s0 = _mm_cvtsi32_si128(2 * k), s1 = _mm_cvtsi32_si128(2 * k + 1);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, s0), one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, s1), one), 4));
          }
          store(u + 64 * k, lo);
          store(u + 64 * k + 32, hi);
          for (int h = 0; h < 2; ++h) {
            int sc, mn;
            q4k_scale_min(2 * k + h, scales, &sc, &mn);
            S[4 * k + 2 * h] = S[4 * k + 2 * h + 1] = d * sc;
            M[4 * k + 2 * h] = M[4 * k + 2 * h + 1] = dmin * mn;
          }
        }
        break;
      }
      case kQ6_K: {
        const float d = half_at(b + 208);
        const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
        for (int n = 0; n < 2; ++n) {
          const __m256i l0 = load32(b + 64 * n), l1 = load32(b + 64 * n + 32), h = load32(b + 128 + 32 * n);
          uint8_t* o = u + 128 * n;
          store(o, _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4)));
          store(o + 32, _mm256_or_si256(_mm256_and_si256(l1, m4),
                                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4)));
          store(o + 64, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4)));
          store(o + 96, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4)));
        }
        for (int g = 0; g < 16; ++g) {
          S[g] = d * sc[g];
          M[g] = 32.f * S[g];
        }
        break;
      }
    }
  }
}
#endif

void unpack_row(const GgmlMatrix* w, int64_t r, uint8_t* u, float* S, float* M, bool q8_offset) {
#if LMF_HAS_X86_TARGETS
  if (isa() >= Isa::avx2) return unpack_row_simd(w, r, u, S, M, q8_offset);
#endif
  unpack_row_body(w, r, u, S, M, q8_offset);
}

// ---- integer dots: out[g] = sum over 16 values of u * xq (u signed for Q8_0) ----

void dots16_portable(const uint8_t* u, const int8_t* x, int64_t n, bool signed_u, int32_t* out) {
  for (int64_t g = 0; g < n / 16; ++g) {
    int32_t s = 0;
    for (int l = 0; l < 16; ++l) {
      const int a = signed_u ? static_cast<int8_t>(u[16 * g + l]) : u[16 * g + l];
      s += a * x[16 * g + l];
    }
    out[g] = s;
  }
}

#if LMF_HAS_X86_TARGETS
// 32 products summed in pairs of 4 into 8 int32 lanes. maddubs saturates int16 pairs, so signed levels go in as
// |u| with x carrying u's sign (|u| <= 128, |x| <= 127: no saturation); unsigned levels here are at most 63.
LMF_TARGET_AVX2 LMF_INLINE __m256i chunk_avx2(const uint8_t* u, const int8_t* x, bool signed_u) {
  __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u));
  __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  if (signed_u) {
    b = _mm256_sign_epi8(b, a);
    a = _mm256_abs_epi8(a);
  }
  return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

#define LMF_TARGET_VNNI __attribute__((target("avx512vnni,avx512vl,avx512f,avx512bw,avx2,fma")))
LMF_TARGET_VNNI LMF_INLINE __m256i chunk_vnni(const uint8_t* u, const int8_t* x, bool signed_u) {
  __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u));
  __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  if (signed_u) {
    b = _mm256_sign_epi8(b, a);
    a = _mm256_abs_epi8(a);
  }
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
}

#define LMF_DOTS16(NAME, TARGET, CHUNK)                                                                  \
  TARGET void NAME(const uint8_t* u, const int8_t* x, int64_t n, bool signed_u, int32_t* out) {          \
    int64_t k = 0;                                                                                      \
    for (; k + 128 <= n; k += 128, out += 8) {                                                          \
      const __m256i a = CHUNK(u + k, x + k, signed_u), b = CHUNK(u + k + 32, x + k + 32, signed_u);      \
      const __m256i c = CHUNK(u + k + 64, x + k + 64, signed_u), d = CHUNK(u + k + 96, x + k + 96, signed_u); \
      const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));             \
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),                                              \
                          _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));    \
    }                                                                                                   \
    for (; k < n; k += 32, out += 2) {                                                                  \
      alignas(32) int32_t lanes[8];                                                                     \
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), CHUNK(u + k, x + k, signed_u));              \
      out[0] = lanes[0] + lanes[1] + lanes[2] + lanes[3];                                               \
      out[1] = lanes[4] + lanes[5] + lanes[6] + lanes[7];                                               \
    }                                                                                                   \
  }
LMF_DOTS16(dots16_avx2, LMF_TARGET_AVX2, chunk_avx2)
LMF_DOTS16(dots16_vnni, LMF_TARGET_VNNI, chunk_vnni)
#endif

using DotsFn = void (*)(const uint8_t*, const int8_t*, int64_t, bool, int32_t*);

bool cpu_has_vnni() {
#if LMF_HAS_X86_TARGETS
  static const bool has = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
  return has;
#else
  return false;
#endif
}

// The integer-dot path for the current ISA cap: vpdpbusd under avx512 (when the CPU has VNNI), vpmaddubsw under
// avx2 (and avx512 without VNNI), scalar otherwise.
DotsFn dots16_for_isa() {
#if LMF_HAS_X86_TARGETS
  const Isa level = isa();
  if (level == Isa::avx512 && cpu_has_vnni()) return dots16_vnni;
  if (level >= Isa::avx2) return dots16_avx2;
#endif
  return dots16_portable;
}

// ---- activation rows as q8 blocks ----

struct QuantizedRow {
  std::vector<int8_t> q;       // [cols]
  std::vector<float> d;        // per 16 values: the 32-block's scale
  std::vector<int32_t> sums;   // per 16 values: sum of q
  std::vector<float> d32;      // per 32 values: the block's scale
  std::vector<float> ds32;     // per 32 values: scale * sum of q
  std::vector<float> ds16;     // per 16 values: scale * sum of q
  std::vector<float> dl;       // per 4 values (an int32 lane of a dot): the block's scale
  XBlocks blocks() const { return {q.data(), d32.data(), ds32.data(), ds16.data()}; }
  XRowQ lanes() const { return {q.data(), dl.data(), ds16.data()}; }
  void fit(int64_t n) {
    q.resize(n), d.resize(n / 16), sums.resize(n / 16), d32.resize(n / 32), ds32.resize(n / 32);
    ds16.resize(n / 16), dl.resize(n / 4);
  }
};

// The block's scale d and its values rounded to q = nearbyint(x / d) (round to nearest even), with the sums of q
// over each 16.
LMF_INLINE float quantize_block32_scalar(const float* xb, int8_t* q, int32_t* sums) {
  float amax = 0.f;
  for (int l = 0; l < 32; ++l) amax = std::max(amax, std::fabs(xb[l]));
  const float d = amax / 127.f, id = d > 0.f ? 1.f / d : 0.f;
  for (int h = 0; h < 2; ++h) {
    int32_t s = 0;
    for (int l = 16 * h; l < 16 * h + 16; ++l) {
      const int v = static_cast<int>(std::nearbyint(xb[l] * id));
      q[l] = static_cast<int8_t>(v);
      s += v;
    }
    sums[h] = s;
  }
  return d;
}

#if LMF_HAS_X86_TARGETS
// The same values as quantize_block32_scalar: the max is exact, and vcvtps2dq rounds to nearest even as nearbyint
// does under the default rounding mode.
LMF_TARGET_AVX512 LMF_INLINE float quantize_block32_avx512(const float* xb, int8_t* q, int32_t* sums) {
  const __m512 a = _mm512_loadu_ps(xb), b = _mm512_loadu_ps(xb + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
  const float d = amax / 127.f, id = d > 0.f ? 1.f / d : 0.f;
  const __m512 vid = _mm512_set1_ps(id);
  const __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, vid)), qb = _mm512_cvtps_epi32(_mm512_mul_ps(b, vid));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(qa));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtepi32_epi8(qb));
  sums[0] = _mm512_reduce_add_epi32(qa);
  sums[1] = _mm512_reduce_add_epi32(qb);
  return d;
}
#endif

// Block b's scale d into the per-16, per-32 and per-lane forms (its sums already in out.sums).
LMF_INLINE void store_block_scales(QuantizedRow& out, int64_t b, float d) {
  for (int h = 0; h < 2; ++h) {
    out.d[2 * b + h] = d;
    out.ds16[2 * b + h] = d * static_cast<float>(out.sums[2 * b + h]);
  }
  for (int l = 0; l < 8; ++l) out.dl[8 * b + l] = d;
  out.d32[b] = d;
  out.ds32[b] = d * static_cast<float>(out.sums[2 * b] + out.sums[2 * b + 1]);
}

#if LMF_HAS_X86_TARGETS
LMF_TARGET_AVX512 void quantize_activation_avx512(const float* x, int64_t n, QuantizedRow& out) {
  for (int64_t b = 0; b < n / 32; ++b)
    store_block_scales(out, b, quantize_block32_avx512(x + 32 * b, out.q.data() + 32 * b, out.sums.data() + 2 * b));
}
#endif

void quantize_activation(const float* x, int64_t n, QuantizedRow& out) {
  out.fit(n);
#if LMF_HAS_X86_TARGETS
  if (isa() == Isa::avx512) return quantize_activation_avx512(x, n, out);
#endif
  for (int64_t b = 0; b < n / 32; ++b)
    store_block_scales(out, b, quantize_block32_scalar(x + 32 * b, out.q.data() + 32 * b, out.sums.data() + 2 * b));
}

// The fused row dot (ggml_row_dots.h) for W's format under the current ISA cap, or null where decoding unpacks rows
// first (Q5_K, and the portable path).
using RowDotFn = float (*)(const uint8_t*, int64_t, const XBlocks&);
RowDotFn row_dot_for(int type) {
#if LMF_HAS_X86_TARGETS
  const Isa level = isa();
  if (level < Isa::avx2) return nullptr;
  const bool vnni = level == Isa::avx512 && cpu_has_vnni();
  switch (type) {
    case kQ8_0: return vnni ? q8_0_row_vnni : q8_0_row_avx2;
    case kQ4_0: return vnni ? q4_0_row_vnni : q4_0_row_avx2;
    case kQ5_0: return vnni ? q5_0_row_vnni : q5_0_row_avx2;
    case kQ5_1: return vnni ? q5_1_row_vnni : q5_1_row_avx2;
    case kQ4_K: return vnni ? q4_k_row_vnni : q4_k_row_avx2;
    case kQ6_K: return vnni ? q6_k_row_vnni : q6_k_row_avx2;
    default: return nullptr;
  }
#else
  (void)type;
  return nullptr;
#endif
}

// The batched integer dot (ggml_rows_dot.h) for the current ISA cap: by_rows[R] dots R x rows (1 <= R <= group)
// against one W row, read from its packed bytes or (unpack) from its unpacked levels; group 0 on the portable path.
using RowsDotFn = void (*)(const uint8_t* packed, const WRowLevels& levels, int64_t K, const XRowQ* x, float* y,
                           int64_t ys);
struct RowsDot {
  int group = 0;
  bool unpack = false, q8_offset = false;
  RowsDotFn by_rows[kVnniRowGroup + 1] = {};
};

#if LMF_HAS_X86_TARGETS
template <int R, class Steps>
void packed_rows_vnni(const uint8_t* packed, const WRowLevels&, int64_t K, const XRowQ* x, float* y, int64_t ys) {
  rows_dot_vnni<R>(Steps{packed}, K, x, y, ys);
}
template <int R>
void level_rows_vnni(const uint8_t*, const WRowLevels& levels, int64_t K, const XRowQ* x, float* y, int64_t ys) {
  rows_dot_vnni<R>(LevelSteps{levels}, K, x, y, ys);
}
template <int R, bool Signed>
void level_rows_avx2(const uint8_t*, const WRowLevels& levels, int64_t K, const XRowQ* x, float* y, int64_t ys) {
  rows_dot_avx2<R, Signed>(levels, K, x, y, ys);
}
template <class Steps, int... R>
void fill_packed_vnni(RowsDot& d, std::integer_sequence<int, R...>) {
  ((d.by_rows[R + 1] = packed_rows_vnni<R + 1, Steps>), ...);
}
template <int... R>
void fill_levels_vnni(RowsDot& d, std::integer_sequence<int, R...>) {
  ((d.by_rows[R + 1] = level_rows_vnni<R + 1>), ...);
}
template <bool Signed, int... R>
void fill_levels_avx2(RowsDot& d, std::integer_sequence<int, R...>) {
  ((d.by_rows[R + 1] = level_rows_avx2<R + 1, Signed>), ...);
}
#endif

RowsDot rows_dot_for(int type) {
  RowsDot d;
#if LMF_HAS_X86_TARGETS
  const Isa level = isa();
  if (level == Isa::avx512 && cpu_has_vnni()) {
    d.group = kVnniRowGroup;
    const auto rows = std::make_integer_sequence<int, kVnniRowGroup>();
    switch (type) {
      case kQ8_0: fill_packed_vnni<Q8_0Steps>(d, rows); break;
      case kQ4_0: fill_packed_vnni<Q4_0Steps>(d, rows); break;
      case kQ4_K: fill_packed_vnni<Q4_KSteps>(d, rows); break;
      case kQ6_K: fill_packed_vnni<Q6_KSteps>(d, rows); break;
      default: d.unpack = d.q8_offset = true, fill_levels_vnni(d, rows);
    }
  } else if (level >= Isa::avx2) {
    d.group = kAvx2RowGroup, d.unpack = true;
    const auto rows = std::make_integer_sequence<int, kAvx2RowGroup>();
    if (type == kQ8_0)
      fill_levels_avx2<true>(d, rows);
    else
      fill_levels_avx2<false>(d, rows);
  }
#else
  (void)type;
#endif
  return d;
}

// x with at most this many rows takes the integer-dot path, more rows the dequantized tiles and the f32 GEMM: the
// batched dots cost about the same per x row from 2 to 64 rows, the tiles' decoding is shared by all rows, and the
// two met between 16 and 32 rows (1.4-1.8x faster at 16, 0.65-1.5x at 32 on Q8_0/Q4_0/Q4_K/Q6_K 1536x576/512, two
// threads, alternated in one process).
constexpr int64_t kStreamRows = 24;

struct RowScratch {
  std::vector<uint8_t> u;
  std::vector<float> S, M;
  std::vector<int32_t> dots;
  void fit(int64_t cols) {
    if (static_cast<int64_t>(u.size()) < cols) u.resize(cols), S.resize(cols / 16), M.resize(cols / 16),
                                                dots.resize(cols / 16);
  }
};

// y [m, rows] = x [m, cols] @ W^T (+ bias), m <= kStreamRows.
void ggml_gemv(const GgmlMatrix& w, const float* x, int64_t m, const float* bias, float* y) {
  const int64_t N = w.rows, K = w.cols, G = K / 16;
  std::vector<QuantizedRow> xq(m);
  for (int64_t i = 0; i < m; ++i) quantize_activation(x + i * K, K, xq[i]);
  // one x row: the fused row dot (ggml_row_dots.h); the batched dot's per-step scale work only pays off from 2 rows
  if (const RowDotFn row_dot = m == 1 ? row_dot_for(w.type) : nullptr) {
    std::vector<XBlocks> xb(m);
    for (int64_t i = 0; i < m; ++i) xb[i] = xq[i].blocks();
    const int64_t blocks = K / w.block_elements;
    parallel_for(N, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        for (int64_t i = 0; i < m; ++i) y[i * N + r] = row_dot(w.row(r), blocks, xb[i]) + (bias ? bias[r] : 0.f);
    });
    return;
  }
  const RowsDot dot = rows_dot_for(w.type);
  if (dot.group > 0) {
    std::vector<XRowQ> xr(m);
    for (int64_t i = 0; i < m; ++i) xr[i] = xq[i].lanes();
    parallel_for(N, 8, [&](int64_t b, int64_t e) {
      thread_local RowScratch s;
      s.fit(K);
      const WRowLevels levels{s.u.data(), s.S.data(), s.M.data()};
      for (int64_t r = b; r < e; ++r) {
        if (dot.unpack) unpack_row(&w, r, s.u.data(), s.S.data(), s.M.data(), dot.q8_offset);
        for (int64_t i = 0; i < m; i += dot.group)
          dot.by_rows[std::min<int64_t>(dot.group, m - i)](w.row(r), levels, K, xr.data() + i, y + i * N + r, N);
        if (bias)
          for (int64_t i = 0; i < m; ++i) y[i * N + r] += bias[r];
      }
    });
    return;
  }
  const DotsFn dots16 = dots16_for_isa();
  const bool signed_u = w.type == kQ8_0;
  parallel_for(N, 8, [&](int64_t b, int64_t e) {
    thread_local RowScratch s;
    s.fit(K);
    for (int64_t r = b; r < e; ++r) {
      unpack_row(&w, r, s.u.data(), s.S.data(), s.M.data(), false);
      for (int64_t i = 0; i < m; ++i) {
        dots16(s.u.data(), xq[i].q.data(), K, signed_u, s.dots.data());
        const float* d = xq[i].d.data();
        const int32_t* sums = xq[i].sums.data();
        float acc = 0.f;
        for (int64_t g = 0; g < G; ++g)
          acc += d[g] * (s.S[g] * static_cast<float>(s.dots[g]) - s.M[g] * static_cast<float>(sums[g]));
        y[i * N + r] = acc + (bias ? bias[r] : 0.f);
      }
    }
  });
}

// Levels u with per-16 S, M -> f32 values o [cols], in ggml_blocks.cc's arithmetic so the values are bit-equal to its
// dequantizer: S (u - offset), S u - M with mins, S u for Q8_0's signed levels. The branches sit outside the 16-value
// loops so each loop vectorizes for the ISA it is compiled for.
LMF_INLINE void levels_to_f32_body(const uint8_t* __restrict u, const float* __restrict S, const float* __restrict M,
                                   int64_t cols, int offset, bool signed_u, bool with_min, float* __restrict o) {
  const int64_t G = cols / 16;
  if (signed_u) {
    for (int64_t g = 0; g < G; ++g)
      for (int l = 0; l < 16; ++l)
        o[16 * g + l] = S[g] * static_cast<float>(static_cast<int8_t>(u[16 * g + l]));
  } else if (with_min) {
    for (int64_t g = 0; g < G; ++g)
      for (int l = 0; l < 16; ++l) o[16 * g + l] = S[g] * static_cast<float>(u[16 * g + l]) - M[g];
  } else {
    for (int64_t g = 0; g < G; ++g)
      for (int l = 0; l < 16; ++l) o[16 * g + l] = S[g] * static_cast<float>(u[16 * g + l] - offset);
  }
}
LMF_DISPATCH(levels_to_f32, levels_to_f32_body,
             (const uint8_t* u, const float* S, const float* M, int64_t cols, int offset, bool signed_u, bool with_min,
              float* o),
             (u, S, M, cols, offset, signed_u, with_min, o))

// Rows [r0, r1) of W as f32 (row stride cols).
void dequantize_rows(const GgmlMatrix& w, int64_t r0, int64_t r1, float* dst) {
  thread_local RowScratch s;
  s.fit(w.cols);
  // Q4_0 levels are offset by 8, Q5_0's by 16, Q6_K's by 32; Q5_1's min enters as S u + m (M = -m).
  const int offset = w.type == kQ4_0 ? 8 : w.type == kQ5_0 ? 16 : w.type == kQ6_K ? 32 : 0;
  const bool signed_u = w.type == kQ8_0, with_min = w.type == kQ4_K || w.type == kQ5_K || w.type == kQ5_1;
  for (int64_t r = r0; r < r1; ++r) {
    unpack_row(&w, r, s.u.data(), s.S.data(), s.M.data(), false);
    levels_to_f32(s.u.data(), s.S.data(), s.M.data(), w.cols, offset, signed_u, with_min, dst + (r - r0) * w.cols);
  }
}

void decode_tile(const GgmlMatrix& w, int64_t n0, int64_t nn, float* tile) {
  parallel_for(nn, 4, [&](int64_t b, int64_t e) { dequantize_rows(w, n0 + b, n0 + e, tile + b * w.cols); });
}

void ggml_linear_forward(const GgmlMatrix& w, const float* x, int64_t m, const float* bias, float* y) {
  if (m <= kStreamRows) return ggml_gemv(w, x, m, bias, y);
  tiled_linear_forward(
      w.rows, w.cols, [&](int64_t n0, int64_t nn, float* tile) { decode_tile(w, n0, nn, tile); }, x, m, bias, y,
      false);
}

// dx [m, cols] = dy [m, rows] @ W, summed over row tiles in order.
void ggml_linear_backward_input(const GgmlMatrix& w, const float* dy, int64_t m, float* dx) {
  tiled_linear_backward_input(
      w.rows, w.cols, [&](int64_t n0, int64_t nn, float* tile) { decode_tile(w, n0, nn, tile); }, dy, m, dx, false);
}

// The matrix described by { ggmlType, rows, cols, data } (data: a storage of the row-major blocks).
bool read_ggml_matrix(const Napi::Env& env, const Napi::Object& o, GgmlMatrix& w) {
  auto num = [&](const char* k) {
    Napi::Value v = o.Get(k);
    return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : int64_t{-1};
  };
  w.type = static_cast<int>(num("ggmlType"));
  w.rows = num("rows");
  w.cols = num("cols");
  Napi::Value data = o.Get("data");
  const bool known = format_of(w.type, &w.block_elements, &w.block_bytes);
  if (!known || w.rows <= 0 || w.cols <= 0 || w.cols % w.block_elements != 0 || !data.IsExternal()) {
    Napi::Error::New(env, "ggml matrix: unknown type, or cols not a whole number of blocks, or no data")
        .ThrowAsJavaScriptException();
    return false;
  }
  Storage* s = data.As<Napi::External<Storage>>().Data();
  if (static_cast<int64_t>(s->bytes) < w.rows * (w.cols / w.block_elements) * w.block_bytes) {
    Napi::Error::New(env, "ggml matrix: the data storage is smaller than its blocks").ThrowAsJavaScriptException();
    return false;
  }
  w.data = static_cast<const uint8_t*>(s->data);
  return true;
}

// ggmlMatrixDequantize(w, dst f32 [rows, cols])
Napi::Value GgmlMatrixDequantize(const Napi::CallbackInfo& info) {
  GgmlMatrix w;
  if (!read_ggml_matrix(info.Env(), info[0].As<Napi::Object>(), w)) return info.Env().Undefined();
  decode_tile(w, 0, w.rows, arg_ptr<float>(info, 1));
  return info.Env().Undefined();
}

// ggmlLinear(w, x f32 [m, cols], m, bias f32 [rows] | null, y f32 [m, rows])
Napi::Value GgmlLinear(const Napi::CallbackInfo& info) {
  GgmlMatrix w;
  if (!read_ggml_matrix(info.Env(), info[0].As<Napi::Object>(), w)) return info.Env().Undefined();
  ggml_linear_forward(w, arg_ptr<float>(info, 1), arg_int(info, 2), arg_opt_ptr<float>(info, 3),
                      arg_ptr<float>(info, 4));
  return info.Env().Undefined();
}

// ggmlLinearBackwardInput(w, dy f32 [m, rows], m, dx f32 [m, cols])
Napi::Value GgmlLinearBackwardInput(const Napi::CallbackInfo& info) {
  GgmlMatrix w;
  if (!read_ggml_matrix(info.Env(), info[0].As<Napi::Object>(), w)) return info.Env().Undefined();
  ggml_linear_backward_input(w, arg_ptr<float>(info, 1), arg_int(info, 2), arg_ptr<float>(info, 3));
  return info.Env().Undefined();
}

// ggmlEmbedding(w, ids i32 [n], n, out f32 [n, cols]): out[i] = row ids[i] of W, dequantized (a GGUF file's
// token_embd kept in its blocks: a lookup decodes only the rows it reads).
Napi::Value GgmlEmbedding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GgmlMatrix w;
  if (!read_ggml_matrix(env, info[0].As<Napi::Object>(), w)) return env.Undefined();
  const int32_t* ids = arg_ptr<int32_t>(info, 1);
  const int64_t n = arg_int(info, 2);
  float* out = arg_ptr<float>(info, 3);
  for (int64_t i = 0; i < n; ++i)
    LMF_CHECK(env, ids[i] >= 0 && ids[i] < w.rows,
              "embedding: token id " + std::to_string(ids[i]) + " at flat position " + std::to_string(i) +
                  " is out of range for a vocabulary of " + std::to_string(w.rows) +
                  " rows; the tokenizer and the GGUF file's token_embd disagree");
  parallel_for(n, 4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dequantize_rows(w, ids[i], ids[i] + 1, out + i * w.cols);
  });
  return env.Undefined();
}

// ggmlStreamRows(): the most x rows the integer-dot path takes (tests pick their tolerance by path).
Napi::Value GgmlStreamRows(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(kStreamRows));
}

// ggmlDotPath(): which integer-dot path decoding takes now ('vnni', 'avx2' or 'portable'; tests check the caps).
Napi::Value GgmlDotPath(const Napi::CallbackInfo& info) {
  const DotsFn f = dots16_for_isa();
#if LMF_HAS_X86_TARGETS
  if (f == dots16_vnni) return Napi::String::New(info.Env(), "vnni");
  if (f == dots16_avx2) return Napi::String::New(info.Env(), "avx2");
#endif
  (void)f;
  return Napi::String::New(info.Env(), "portable");
}

}  // namespace

LMF_MODULE(ggml_dot) {
  exports.Set("ggmlMatrixDequantize", Napi::Function::New(env, GgmlMatrixDequantize));
  exports.Set("ggmlLinear", Napi::Function::New(env, GgmlLinear));
  exports.Set("ggmlLinearBackwardInput", Napi::Function::New(env, GgmlLinearBackwardInput));
  exports.Set("ggmlEmbedding", Napi::Function::New(env, GgmlEmbedding));
  exports.Set("ggmlDotPath", Napi::Function::New(env, GgmlDotPath));
  exports.Set("ggmlStreamRows", Napi::Function::New(env, GgmlStreamRows));
}

}  // namespace lmf
