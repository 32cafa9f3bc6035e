// Fused decode dots for the ggml block formats decoding meets most (Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q6_K): one W row against one
// activation row quantized to int8 32-value blocks, reading W's packed bytes straight into the integer dot.
//
// Per 32 values the levels are unpacked with AND / shift into a 256-bit register in value order (nibbles of Q4_0 and
// Q4_K; Q6_K's 4 low bits and 2 high bits OR-ed together), and one DP32 (vpdpbusd under VNNI, vpmaddubsw + vpmaddwd
// under AVX2) gives 8 int32 lanes, lanes 4j..4j+3 holding values 16j..16j+15. Those are converted to float and
// multiplied by the block's scale times x's block scale (a per-lane vector for Q6_K's two scales per 32). The
// formats' offsets (Q4_0's 8, Q6_K's 32, Q4_K's mins) never touch the levels: they are folded in with the per-block
// sums of x (ds = dx * sum(xq)), as llama.cpp folds them:
//   y = sum_b S_b dx_b dot(u, xq)_b - sum_b M_b ds_b.
// Q5_K and the portable path keep ggml_dot.cc's unpack-then-dot path. Q5_0 / Q5_1 spread their 32 high bits to
// bytes with a shuffle and a compare.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/isa_targets.h"

namespace lmf {

// An activation row as q8 blocks: q [K]; per 32 values d32 (the block scale) and ds32 = d32 * sum(q); per 16 values
// ds16 = d32 * sum(q over the 16).
struct XBlocks {
  const int8_t* q;
  const float* d32;
  const float* ds32;
  const float* ds16;
};

#if LMF_HAS_X86_TARGETS
#define LMF_TARGET_ROWDOT_AVX2 __attribute__((target("avx2,fma,f16c")))
#define LMF_TARGET_ROWDOT_VNNI __attribute__((target("avx512vnni,avx512vl,avx512f,avx512bw,avx2,fma,f16c")))

// 32 unsigned levels (at most 63, so vpmaddubsw's int16 pairs cannot saturate) times 32 int8 activations.
LMF_TARGET_ROWDOT_AVX2 LMF_INLINE __m256i dp32_avx2(__m256i u, __m256i x) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1));
}
LMF_TARGET_ROWDOT_VNNI LMF_INLINE __m256i dp32_vnni(__m256i u, __m256i x) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, x);
}

LMF_TARGET_ROWDOT_AVX2 LMF_INLINE float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

LMF_TARGET_ROWDOT_AVX2 LMF_INLINE float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

LMF_TARGET_ROWDOT_AVX2 LMF_INLINE __m256i load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// Two FMA chains (even and odd steps, so consecutive FMAs do not wait on each other) and every row dot's end: the
// chains' sum less the offsets folded in with x's block sums.
struct FmaChains {
  __m256 even, odd;
  LMF_TARGET_ROWDOT_AVX2 LMF_INLINE FmaChains() : even(_mm256_setzero_ps()), odd(_mm256_setzero_ps()) {}
  LMF_TARGET_ROWDOT_AVX2 LMF_INLINE void add(int64_t step, __m256 p, __m256 s) {
    if (step & 1)
      odd = _mm256_fmadd_ps(p, s, odd);
    else
      even = _mm256_fmadd_ps(p, s, even);
  }
  LMF_TARGET_ROWDOT_AVX2 LMF_INLINE float minus(float off) const { return hsum8(_mm256_add_ps(even, odd)) - off; }
};

// Q4_K's 6-bit scale and min of sub-block j (ggml's get_scale_min_k4).
LMF_INLINE void q4k_scale_min(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Each row dot takes the row's blocks b, its block count nb and x; the two accumulators keep two FMA chains going.
#define LMF_GGML_ROW_DOTS(SFX, TARGET, DP)                                                                       \
  /* Q8_0: 34 bytes per 32 values (f16 d, 32 int8). Signed levels go in as |w| with x carrying w's sign. */      \
  TARGET static float q8_0_row_##SFX(const uint8_t* b, int64_t nb, const XBlocks& x) {                          \
    FmaChains acc;                                                                                              \
    for (int64_t i = 0; i < nb; ++i, b += 34) {                                                                 \
      const __m256i w = load256(b + 2), xq = load256(x.q + 32 * i);                                             \
      const __m256i p = DP(_mm256_abs_epi8(w), _mm256_sign_epi8(xq, w));                                        \
      acc.add(i, _mm256_cvtepi32_ps(p), _mm256_set1_ps(f16_at(b) * x.d32[i]));                                  \
    }                                                                                                           \
    return acc.minus(0.f);                                                                                      \
  }                                                                                                             \
  /* Q4_0: 18 bytes per 32 values (f16 d, 16 bytes: value j in the low nibble of byte j, j + 16 in its high). */ \
  TARGET static float q4_0_row_##SFX(const uint8_t* b, int64_t nb, const XBlocks& x) {                          \
    const __m256i m4 = _mm256_set1_epi8(0x0F);                                                                  \
    FmaChains acc;                                                                                              \
    float off = 0.f;                                                                                            \
    for (int64_t i = 0; i < nb; ++i, b += 18) {                                                                 \
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2));                               \
      const __m256i u = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);                        \
      const float d = f16_at(b);                                                                                \
      off += d * x.ds32[i];                                                                                     \
      const __m256 p = _mm256_cvtepi32_ps(DP(u, load256(x.q + 32 * i)));                                         \
      acc.add(i, p, _mm256_set1_ps(d * x.d32[i]));                                                              \
    }                                                                                                           \
    return acc.minus(8.f * off);                                                                                \
  }                                                                                                             \
  /* Q5_0 / Q5_1: 22 / 24 bytes per 32 values (f16 d, [Q5_1: f16 m], 32 high bits, value j's in bit j; 16 bytes \
     of low nibbles as Q4_0's). Q5_0 is d (u - 16), Q5_1 is d u + m. */                                          \
  TARGET static float q5_row_##SFX(const uint8_t* b, int64_t nb, const XBlocks& x, bool q51) {                  \
    const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);                                   \
    const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);    \
    const __m256i others = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe), ones = _mm256_set1_epi64x(-1);              \
    const int64_t bytes = q51 ? 24 : 22, qs_at = q51 ? 8 : 6;                                                   \
    FmaChains acc;                                                                                              \
    float off = 0.f;                                                                                            \
    for (int64_t i = 0; i < nb; ++i, b += bytes) {                                                              \
      uint32_t qh;                                                                                              \
      std::memcpy(&qh, b + qs_at - 4, 4);                                                                       \
      /* byte v of the 32 gets bit v of qh: each byte keeps its own bit (OR with all others set) and compares */ \
      const __m256i high = _mm256_and_si256(                                                                    \
          _mm256_cmpeq_epi8(                                                                                    \
              _mm256_or_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)), spread), others),    \
              ones),                                                                                            \
          bit4);                                                                                                \
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + qs_at));                           \
      const __m256i u = _mm256_or_si256(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4), high); \
      const float d = f16_at(b);                                                                                \
      off += (q51 ? -f16_at(b + 2) : 16.f * d) * x.ds32[i];                                                     \
      const __m256 p = _mm256_cvtepi32_ps(DP(u, load256(x.q + 32 * i)));                                         \
      acc.add(i, p, _mm256_set1_ps(d * x.d32[i]));                                                              \
    }                                                                                                           \
    return acc.minus(off);                                                                                      \
  }                                                                                                             \
  TARGET static float q5_0_row_##SFX(const uint8_t* b, int64_t nb, const XBlocks& x) {                          \
    return q5_row_##SFX(b, nb, x, false);                                                                       \
  }                                                                                                             \
  TARGET static float q5_1_row_##SFX(const uint8_t* b, int64_t nb, const XBlocks& x) {                          \
    return q5_row_##SFX(b, nb, x, true);                                                                        \
  }                                                                                                             \
  /* Q4_K: 144 bytes per 256 values (f16 d, dmin; 12 bytes of 6-bit scales and mins; 128 bytes: 32 bytes hold  \
     sub-block 2k in their low nibbles and 2k + 1 in their high ones). */                                       \
  TARGET static float q4_k_row_##SFX(const uint8_t* b, int64_t nb, const XBlocks& x) {                          \
    const __m256i m4 = _mm256_set1_epi8(0x0F);                                                                  \
    FmaChains acc;                                                                                              \
    float off = 0.f;                                                                                            \
    for (int64_t i = 0; i < nb; ++i, b += 144) {                                                                \
      const float d = f16_at(b), dmin = f16_at(b + 2);                                                          \
      const uint8_t* scales = b + 4;                                                                            \
      const int8_t* xq = x.q + 256 * i;                                                                         \
      const float* xd = x.d32 + 8 * i;                                                                          \
      const float* ds = x.ds32 + 8 * i;                                                                         \
      float mins = 0.f;                                                                                         \
      for (int k = 0; k < 4; ++k) {                                                                             \
        const __m256i v = load256(b + 16 + 32 * k);                                                              \
        const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);          \
        int sc0, mn0, sc1, mn1;                                                                                 \
        q4k_scale_min(2 * k, scales, &sc0, &mn0);                                                               \
        q4k_scale_min(2 * k + 1, scales, &sc1, &mn1);                                                           \
        acc.add(0, _mm256_cvtepi32_ps(DP(lo, load256(xq + 64 * k))),                                            \
                _mm256_set1_ps(d * static_cast<float>(sc0) * xd[2 * k]));                                       \
        acc.add(1, _mm256_cvtepi32_ps(DP(hi, load256(xq + 64 * k + 32))),                                       \
                _mm256_set1_ps(d * static_cast<float>(sc1) * xd[2 * k + 1]));                                   \
        mins += static_cast<float>(mn0) * ds[2 * k] + static_cast<float>(mn1) * ds[2 * k + 1];                  \
      }                                                                                                         \
      off += dmin * mins;                                                                                       \
    }                                                                                                           \
    return acc.minus(off);                                                                                      \
  }                                                                                                             \
  /* Q6_K: 210 bytes per 256 values (128 bytes of low 4 bits, 64 of high 2 bits, 16 int8 scales per 16 values, \
     f16 d); per 128 values, 32 bytes of ql / ql+32 / qh give four 32-value chunks. */                          \
  TARGET static float q6_k_row_##SFX(const uint8_t* b, int64_t nb, const XBlocks& x) {                          \
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);                                        \
    FmaChains acc;                                                                                              \
    float off = 0.f;                                                                                            \
    for (int64_t i = 0; i < nb; ++i, b += 210) {                                                                \
      const float d = f16_at(b + 208);                                                                          \
      const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);                                              \
      const float* ds = x.ds16 + 16 * i;                                                                        \
      float offs = 0.f;                                                                                         \
      for (int g = 0; g < 16; ++g) offs += static_cast<float>(sc[g]) * ds[g];                                   \
      off += 32.f * d * offs;                                                                                   \
      for (int n = 0; n < 2; ++n) {                                                                             \
        const uint8_t* ql = b + 64 * n;                                                                         \
        const __m256i l0 = load256(ql), l1 = load256(ql + 32), h = load256(b + 128 + 32 * n);                   \
        const __m256i u[4] = {                                                                                  \
            _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4)),           \
            _mm256_or_si256(_mm256_and_si256(l1, m4),                                                           \
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4)),               \
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),                                     \
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4)),               \
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),                                     \
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4))};              \
        for (int c = 0; c < 4; ++c) {                                                                           \
          const int64_t v0 = 256 * i + 128 * n + 32 * c; /* first value of the chunk */                         \
          const int g = 8 * n + 2 * c;                                                                          \
          const float dd = d * x.d32[v0 / 32];                                                                  \
          const __m256 s = _mm256_set_m128(_mm_set1_ps(dd * static_cast<float>(sc[g + 1])),                     \
                                           _mm_set1_ps(dd * static_cast<float>(sc[g])));                        \
          const __m256 p = _mm256_cvtepi32_ps(DP(u[c], load256(x.q + v0)));                                     \
          acc.add(c, p, s);                                                                                     \
        }                                                                                                       \
      }                                                                                                         \
    }                                                                                                           \
    return acc.minus(off);                                                                                      \
  }

LMF_GGML_ROW_DOTS(avx2, LMF_TARGET_ROWDOT_AVX2, dp32_avx2)
LMF_GGML_ROW_DOTS(vnni, LMF_TARGET_ROWDOT_VNNI, dp32_vnni)
#undef LMF_GGML_ROW_DOTS
#endif

}  // namespace lmf
