// bf16 compute for the fused attention (kernels/attention.cc): torch.autocast runs an attention's matmuls (q.k^T,
// p @ v and their backward) on bf16 operands with f32 accumulation, the softmax in f32. Every path rounds the
// operands to bf16 (round_bf16); with AVX512_BF16 the products run on VDPBF16PS (gemm_pairs), which multiplies two
// bf16 pairs exactly and adds both products into an f32 lane.
//
// Pair layouts (a "word" is one uint32 holding two bf16: element 2p in the low half, 2p + 1 in the high half):
//   a row-major f32 operand read along K (q, dout, p, ds rows): its bf16 copy, row by row (words = K pairs)
//   an operand whose K runs down its rows (k^T tiles, v rows, p^T, ...): pair_rows, rows 2p and 2p + 1 interleaved
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/dtype.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define LMF_ATTN_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#endif

namespace lmf::attn_bf16 {

// x[i] = bf16(x[i]) for i < n, round to nearest even (core/dtype.h): the operand rounding of every path.
inline void round_bf16(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = bf16_to_f32(f32_to_bf16(x[i]));
}

#if defined(__x86_64__)

// dst[i] = bf16(src[i]) for i < n (n even): as words, dst word j = (src[2j], src[2j + 1]).
LMF_ATTN_BF16 inline void to_words(const float* src, int64_t n, uint32_t* dst) {
  uint16_t* d = reinterpret_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i),
                        reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i))));
  for (; i < n; ++i) d[i] = f32_to_bf16(src[i]);
}

// dst[p * width + x] = (src[2p * ld + x], src[(2p + 1) * ld + x]) for p < ceil(rows / 2), x < width (a multiple of
// 16); the high half of the last word is 0 when rows is odd.
LMF_ATTN_BF16 inline void pair_rows(const float* src, int64_t rows, int64_t width, int64_t ld, uint32_t* dst) {
  for (int64_t r = 0; r < rows; r += 2, dst += width) {
    const float* lo = src + r * ld;
    const float* hi = r + 1 < rows ? lo + ld : nullptr;
    for (int64_t x = 0; x < width; x += 16) {
      __m512i w = _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_loadu_ps(lo + x))));
      if (hi) {
        __m256i h = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_loadu_ps(hi + x)));
        w = _mm512_or_si512(w, _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
      }
      _mm512_storeu_si512(dst + x, w);
    }
  }
}

// c[MR rows][NV * 16] (+)= sum over kp pairs of a word (a[r * a_rs + p * a_ks]) dotted with b[p * ldb + ...].
template <int MR, int NV>
LMF_ATTN_BF16 inline void micro(int64_t kp, const uint32_t* a, int64_t a_rs, int64_t a_ks, const uint32_t* b,
                                int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  __m512 acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NV; ++j) acc[r][j] = accumulate ? _mm512_loadu_ps(c + r * ldc + j * 16) : _mm512_setzero_ps();
  for (int64_t p = 0; p < kp; ++p) {
    __m512bh bv[NV];
    for (int j = 0; j < NV; ++j) bv[j] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + p * ldb + j * 16));
    for (int r = 0; r < MR; ++r) {
      __m512bh av = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(a[r * a_rs + p * a_ks])));
      for (int j = 0; j < NV; ++j) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], av, bv[j]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NV; ++j) _mm512_storeu_ps(c + r * ldc + j * 16, acc[r][j]);
}

template <int MR>
LMF_ATTN_BF16 inline void micro_cols(int nv, int64_t kp, const uint32_t* a, int64_t a_rs, int64_t a_ks,
                                     const uint32_t* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  switch (nv) {
    case 4: micro<MR, 4>(kp, a, a_rs, a_ks, b, ldb, c, ldc, accumulate); break;
    case 3: micro<MR, 3>(kp, a, a_rs, a_ks, b, ldb, c, ldc, accumulate); break;
    case 2: micro<MR, 2>(kp, a, a_rs, a_ks, b, ldb, c, ldc, accumulate); break;
    default: micro<MR, 1>(kp, a, a_rs, a_ks, b, ldb, c, ldc, accumulate); break;
  }
}

// c [M, N] (+)= a [M, kp pairs] . b [kp pairs, N] in words, N a multiple of 16; a read through word strides
// (a_rs, a_ks) as attention.cc's gemm_acc reads its f32 operand. Each c lane sums its pairs in order.
LMF_ATTN_BF16 inline void gemm_pairs(int64_t M, int64_t N, int64_t kp, const uint32_t* a, int64_t a_rs, int64_t a_ks,
                                     const uint32_t* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  for (int64_t m0 = 0; m0 < M; m0 += 4) {
    const int mr = static_cast<int>(std::min<int64_t>(4, M - m0));
    for (int64_t n0 = 0; n0 < N; n0 += 64) {
      const int nv = static_cast<int>(std::min<int64_t>(4, (N - n0) / 16));
      const uint32_t* am = a + m0 * a_rs;
      float* cm = c + m0 * ldc + n0;
      const uint32_t* bn = b + n0;
      switch (mr) {
        case 4: micro_cols<4>(nv, kp, am, a_rs, a_ks, bn, ldb, cm, ldc, accumulate); break;
        case 3: micro_cols<3>(nv, kp, am, a_rs, a_ks, bn, ldb, cm, ldc, accumulate); break;
        case 2: micro_cols<2>(nv, kp, am, a_rs, a_ks, bn, ldb, cm, ldc, accumulate); break;
        default: micro_cols<1>(nv, kp, am, a_rs, a_ks, bn, ldb, cm, ldc, accumulate); break;
      }
    }
  }
}

#endif

}  // namespace lmf::attn_bf16
