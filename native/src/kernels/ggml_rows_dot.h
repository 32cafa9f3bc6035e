// Decoding products for a batch of x rows (decode steps of many clients, short prompts): each block of one W row is
// unpacked ONCE and dotted against R int8-quantized x rows at a time, so a weight block is unpacked once per batch,
// not once per x row.
//
// Under AVX-512 VNNI a W row is read in steps of 64 values: Q8_0, Q4_0, Q4_K and Q6_K unpack their packed bytes
// straight into a register (the *Steps readers below), the other formats read a row ggml_dot.cc's unpack_row has
// unpacked into levels u with per-16 S16, M16 (w = S16 u - M16). For each of the R x rows one vpdpbusd gives int32
// lanes of 4 values each (lane j: values 4j..4j+3, so 4 lanes share one S16), converted to float, times x's block
// scale per lane (dl) and W's S16 into that row's accumulator. The offsets never touch the levels:
// y = sum(lanes) - sum_g M16[g] ds16[g] (ds16 = dx * sum(xq) per 16 values). The AVX2 path reads unpacked rows 32
// values a step with vpmaddubsw.
// Every x row's arithmetic is the same sequence whatever R or the batch size is, so a row's output is bit-equal in
// any batch of two or more (serving's batch invariance; one row alone takes ggml_row_dots.h's fused dot).
// Levels are unsigned: at most 63, or 255 under VNNI where Q8_0's signed levels go in as w + 128 with M16 = 128 S16;
// the AVX2 path keeps Q8_0 signed and moves its sign onto x (vpmaddubsw multiplies unsigned by signed bytes and
// saturates int16 pairs: |w| <= 128, |x| <= 127 stay clear of it).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/ggml_row_dots.h"
#include "kernels/isa_targets.h"

namespace lmf {

// An x row quantized to int8 in 32-value blocks: q [K]; dl [K / 4], the block scale for each 4 values (one int32
// lane); ds16 [K / 16], the scale times the sum of q over each 16 values.
struct XRowQ {
  const int8_t* q;
  const float* dl;
  const float* ds16;
};

// An unpacked W row: levels u [K], S16 and M16 [K / 16].
struct WRowLevels {
  const uint8_t* u;
  const float* S16;
  const float* M16;
};

// x rows dotted together per unpacked W row (their accumulators stay in registers).
constexpr int kVnniRowGroup = 8;
constexpr int kAvx2RowGroup = 4;

#if LMF_HAS_X86_TARGETS
#define LMF_TARGET_ROWS_VNNI \
  __attribute__((target("avx512vnni,avx512vl,avx512f,avx512bw,avx512dq,avx2,fma,f16c")))
#define LMF_TARGET_ROWS_AVX2 __attribute__((target("avx2,fma")))

// One 64-value step of a W row under VNNI: levels u (unsigned bytes), s (each int32 lane's S16: lanes 4g..4g+3 share
// group g's) and m (M16 of the step's 4 groups). A last step of 32 values leaves the upper halves, and m's upper 2,
// to whatever: x's masked loads make their products zero.
struct Step64 {
  __m512i u;
  __m512 s;
  __m128 m;
};

LMF_TARGET_ROWS_VNNI LMF_INLINE float f16_value(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

LMF_TARGET_ROWS_VNNI LMF_INLINE __m512i join256(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
LMF_TARGET_ROWS_VNNI LMF_INLINE __m512 lanes_of_two(float lo, float hi) {  // 8 lanes of each
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(lo)), _mm256_set1_ps(hi), 1);
}
LMF_TARGET_ROWS_VNNI LMF_INLINE __m512 lanes_of_four(__m128 g) {  // 4 lanes of each
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                               _mm512_castps128_ps512(g));
}
LMF_TARGET_ROWS_VNNI LMF_INLINE __m256i nibbles256(const uint8_t* q) {  // byte j's low nibble, then its high ones
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
}

// Steps read straight from the packed blocks of one W row b (layouts in ggml_blocks.cc), each the same values
// ggml_dot.cc's unpack_row gives. Q8_0 and Q4_0 take two 32-value blocks a step.
struct Q8_0Steps {
  const uint8_t* b;
  LMF_TARGET_ROWS_VNNI LMF_INLINE Step64 at(int64_t k, bool full) const {
    const uint8_t* p = b + 34 * (k / 32);
    const float d0 = f16_value(p), d1 = full ? f16_value(p + 34) : 0.f;
    const __m256i hi = full ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 36)) : _mm256_setzero_si256();
    const __m512i w = join256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)), hi);
    return {_mm512_xor_si512(w, _mm512_set1_epi8(static_cast<char>(0x80))), lanes_of_two(d0, d1),
            _mm_setr_ps(128.f * d0, 128.f * d0, 128.f * d1, 128.f * d1)};
  }
};

struct Q4_0Steps {
  const uint8_t* b;
  LMF_TARGET_ROWS_VNNI LMF_INLINE Step64 at(int64_t k, bool full) const {
    const uint8_t* p = b + 18 * (k / 32);
    const float d0 = f16_value(p), d1 = full ? f16_value(p + 18) : 0.f;
    const __m256i hi = full ? nibbles256(p + 20) : _mm256_setzero_si256();
    return {join256(nibbles256(p + 2), hi), lanes_of_two(d0, d1),
            _mm_setr_ps(8.f * d0, 8.f * d0, 8.f * d1, 8.f * d1)};
  }
};

// Q4_K: a 256-value block is 4 steps; step j is the low then the high nibbles of bytes 32j..32j+31. The block's 8
// scales and mins are decoded once, at its first step (steps come in order).
struct Q4_KSteps {
  explicit Q4_KSteps(const uint8_t* row) : b(row) {}
  const uint8_t* b;
  mutable const uint8_t* p = nullptr;
  mutable __m512 S8, M8;  // lanes 0..7: d sc and dmin mn of sub-block j (the upper 8 unused)
  LMF_TARGET_ROWS_VNNI LMF_INLINE Step64 at(int64_t k, bool) const {
    const int j = static_cast<int>(k % 256) / 64;
    if (j == 0) {
      p = b + 144 * (k / 256);
      alignas(32) float sc[8], mn[8];
      for (int t = 0; t < 8; ++t) {
        int s, m;
        q4k_scale_min(t, p + 4, &s, &m);
        sc[t] = static_cast<float>(s), mn[t] = static_cast<float>(m);
      }
      S8 = _mm512_castps256_ps512(_mm256_mul_ps(_mm256_set1_ps(f16_value(p)), _mm256_load_ps(sc)));
      M8 = _mm512_castps256_ps512(_mm256_mul_ps(_mm256_set1_ps(f16_value(p + 2)), _mm256_load_ps(mn)));
    }
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 + 32 * j));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    // s: 8 lanes of S8[2j], 8 of S8[2j + 1]; m: M8[2j] twice, M8[2j + 1] twice
    const __m512i pick = _mm512_add_epi32(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                          _mm512_set1_epi32(2 * j));
    return {join256(_mm256_and_si256(v, m4), _mm256_and_si256(_mm256_srli_epi16(v, 4), m4)),
            _mm512_permutexvar_ps(pick, S8),
            _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(2 * j, 2 * j, 2 * j + 1, 2 * j + 1, 0, 0,
                                                                            0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                                                         M8))};
  }
};

// Q6_K: a 256-value block is two halves of 128 (64 bytes of low 4 bits l0 | l1, 32 of high 2 bits h); step 2n + p
// takes values 128n + 64p .. + 63: l0's and l1's nibble p with h's bit pairs 2p and 2p + 1.
struct Q6_KSteps {
  const uint8_t* b;
  LMF_TARGET_ROWS_VNNI LMF_INLINE Step64 at(int64_t k, bool) const {
    const uint8_t* p = b + 210 * (k / 256);
    const int t = static_cast<int>(k % 256) / 64, n = t / 2, half = t % 2;
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 128 + 32 * n));
    __m512i l = join256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * n)),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * n + 32)));
    __m512i hh = join256(h, _mm256_srli_epi16(h, 2));
    if (half) l = _mm512_srli_epi16(l, 4), hh = _mm512_srli_epi16(hh, 4);
    const __m512i u = _mm512_or_si512(_mm512_and_si512(l, _mm512_set1_epi8(0x0F)),
                                      _mm512_slli_epi16(_mm512_and_si512(hh, _mm512_set1_epi8(3)), 4));
    const float d = f16_value(p + 208);
    const int8_t* sc = reinterpret_cast<const int8_t*>(p + 192) + 8 * n + 4 * half;
    const __m128 S = _mm_setr_ps(d * sc[0], d * sc[1], d * sc[2], d * sc[3]);
    return {u, lanes_of_four(S), _mm_mul_ps(_mm_set1_ps(32.f), S)};
  }
};

// Steps over an unpacked row (every other format).
struct LevelSteps {
  WRowLevels w;
  LMF_TARGET_ROWS_VNNI LMF_INLINE Step64 at(int64_t k, bool full) const {
    const __mmask8 kg = full ? 0xF : 0x3;
    return {_mm512_maskz_loadu_epi8(full ? ~__mmask64(0) : __mmask64(0xFFFFFFFF), w.u + k),
            lanes_of_four(_mm_maskz_loadu_ps(kg, w.S16 + k / 16)), _mm_maskz_loadu_ps(kg, w.M16 + k / 16)};
  }
};

LMF_TARGET_ROWS_VNNI LMF_INLINE float hsum4(__m128 v) {
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehdup_ps(v)));
}

// y[r * ys] = W row . x[r] for r < R (K a multiple of 32): per step one vpdpbusd per x row,
// y = sum(lanes of S16 * dx * dot) - sum(M16 * ds16).
// One step at k into the accumulators acc (one per x row) and off.
template <int R, class Steps>
LMF_TARGET_ROWS_VNNI LMF_INLINE void step_vnni(const Steps& w, int64_t k, int64_t K, const XRowQ* x, __m512 (&acc)[R],
                                               __m128 (&off)[R]) {
  const bool full = K - k >= 64;
  const __mmask64 kb = full ? ~__mmask64(0) : __mmask64(0xFFFFFFFF);
  const __mmask16 kl = full ? __mmask16(0xFFFF) : __mmask16(0xFF);
  const __mmask8 kg = full ? 0xF : 0x3;
  const Step64 st = w.at(k, full);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), st.u, _mm512_maskz_loadu_epi8(kb, x[r].q + k));
    const __m512 pd = _mm512_mul_ps(_mm512_cvtepi32_ps(p), _mm512_maskz_loadu_ps(kl, x[r].dl + k / 4));
    acc[r] = _mm512_fmadd_ps(pd, st.s, acc[r]);
    off[r] = _mm_fmadd_ps(st.m, _mm_maskz_loadu_ps(kg, x[r].ds16 + k / 16), off[r]);
  }
}

// y[r * ys] = W row . x[r] for r < R (K a multiple of 32): per step one vpdpbusd per x row,
// y = sum(lanes of S16 * dx * dot) - sum(M16 * ds16). Even and odd steps keep separate FMA chains.
template <int R, class Steps>
LMF_TARGET_ROWS_VNNI void rows_dot_vnni(const Steps& w, int64_t K, const XRowQ* x, float* y, int64_t ys) {
  __m512 acc0[R], acc1[R];
  __m128 off[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps(), off[r] = _mm_setzero_ps();
  int64_t k = 0;
  for (; k + 64 < K; k += 128) {
    step_vnni<R>(w, k, K, x, acc0, off);
    step_vnni<R>(w, k + 64, K, x, acc1, off);
  }
  if (k < K) step_vnni<R>(w, k, K, x, acc0, off);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
    y[r * ys] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r])) - hsum4(off[r]);
}

LMF_TARGET_ROWS_AVX2 LMF_INLINE float hsum8_rows(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

LMF_TARGET_ROWS_AVX2 LMF_INLINE float offsets_avx2(const float* M16, const float* ds16, int64_t G) {
  __m256 acc = _mm256_setzero_ps();
  int64_t g = 0;
  for (; g + 8 <= G; g += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(M16 + g), _mm256_loadu_ps(ds16 + g), acc);
  float tail = 0.f;
  for (; g < G; ++g) tail += M16[g] * ds16[g];
  return hsum8_rows(acc) + tail;
}

// As rows_dot_vnni, 32 values a step; Signed: u holds Q8_0's signed levels.
template <int R, bool Signed>
LMF_TARGET_ROWS_AVX2 void rows_dot_avx2(const WRowLevels& w, int64_t K, const XRowQ* x, float* y, int64_t ys) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t k = 0; k < K; k += 32) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.u + k));
    const __m256i u = Signed ? _mm256_abs_epi8(raw) : raw;
    const __m256 s = _mm256_set_m128(_mm_set1_ps(w.S16[k / 16 + 1]), _mm_set1_ps(w.S16[k / 16]));
    for (int r = 0; r < R; ++r) {
      __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[r].q + k));
      if (Signed) xq = _mm256_sign_epi8(xq, raw);
      const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u, xq), ones);
      const __m256 pd = _mm256_mul_ps(_mm256_cvtepi32_ps(p), _mm256_loadu_ps(x[r].dl + k / 4));
      acc[r] = _mm256_fmadd_ps(pd, s, acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r * ys] = hsum8_rows(acc[r]) - (Signed ? 0.f : offsets_avx2(w.M16, x[r].ds16, K / 16));
}
#endif

}  // namespace lmf
