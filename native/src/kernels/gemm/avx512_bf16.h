// bf16 compute on AVX512_BF16 (Zen 4/5, Sapphire Rapids and later): the AVX-512 path's 14x32 tile with each k
// step taking two K values at once. VDPBF16PS multiplies pairs of bf16 values exactly and adds both products into
// an f32 accumulator (as two rounded f32 additions, odd element first; denormals flushed), so one instruction does
// the work of two FMAs. Operands are rounded to bf16 (round to nearest even) while packing; C, bias and every
// accumulation stay f32. This is mixed precision as torch.autocast(bfloat16) runs a matmul.
//
// Packed layouts (kc = the K block, kp = ceil(kc / 2) pairs; each 32-bit word holds (x[k], x[k + 1]) with k even
// in the low half, k + 1 = kc padded with zero):
//   A panel: kp x MR words, Ap[p * MR + r] = (A[r][2p], A[r][2p + 1])
//   B panel: kp x NR words, Bp[p * NR + c] = (B[2p][c], B[2p + 1][c])
// Panels sit where the f32 path puts its panels (panel i at i * MR * kc or i * NR * kc floats), so gemm_region's
// block offsets are the same for both; the bf16 panel fills the first half of that space.
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/gemm/avx512.h"
#include "kernels/gemm/pack_buffer.h"

#define LMF_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace lmf::gemm_avx512_bf16 {

using gemm_avx512::MR;
using gemm_avx512::NR;

// One f32 panel while it is turned into pairs (packing reuses the f32 path's widening pack, then pairs rows).
inline thread_local PackBuffer t_panel;

// 16 words (lo[i], hi[i]) from two rows of 16 f32, each rounded to bf16 (hi may be null: the zero pad of an odd K).
LMF_AVX512_BF16 inline __m512i pair16(const float* lo, const float* hi) {
  __m256i l = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_loadu_ps(lo)));
  __m512i words = _mm512_cvtepu16_epi32(l);
  if (hi == nullptr) return words;
  __m256i h = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_loadu_ps(hi)));
  return _mm512_or_si512(words, _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// f32 panel [kc][width] (row stride width, width = MR or NR) -> pair words [kp][width] at dst.
template <int Width>
LMF_AVX512_BF16 inline void pair_panel(const float* src, int64_t kc, uint32_t* dst) {
  static_assert(Width % 16 == 0 || Width == MR, "a panel is MR or a multiple of 16 wide");
  for (int64_t k = 0; k < kc; k += 2, dst += Width) {
    const float* lo = src + k * Width;
    const float* hi = k + 1 < kc ? lo + Width : nullptr;
    if constexpr (Width == MR) {
      // 14 values per row: one masked 16-lane pass (the A panel rows are MR = 14 apart, so lanes 14, 15 read the
      // next row's first values and are not stored). The scratch has a row of slack for the last row's overread.
      _mm512_mask_storeu_epi32(dst, 0x3fff, pair16(lo, hi));
    } else {
      for (int c = 0; c < Width; c += 16) _mm512_storeu_si512(dst + c, pair16(lo + c, hi ? hi + c : nullptr));
    }
  }
}

// Packs op(A)[i0 : i0+mc, k0 : k0+kc] as bf16 pairs: the f32 path's pack_a per panel, then paired.
template <DType D>
LMF_AVX512_BF16 void pack_a(const void* a, bool trans, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
                            float* dst) {
  float* scratch = t_panel.get(static_cast<size_t>(MR * (kc + 1) + 16));
  for (int64_t p = 0; p < mc; p += MR, dst += MR * kc) {
    gemm_avx512::pack_a<D>(a, trans, lda, i0 + p, std::min<int64_t>(MR, mc - p), k0, kc, scratch);
    pair_panel<MR>(scratch, kc, reinterpret_cast<uint32_t*>(dst));
  }
}

// Packs op(B)[k0 : k0+kc, j0 : j0+nc] as bf16 pairs, panel by panel.
template <DType D>
LMF_AVX512_BF16 void pack_b(const void* b, bool trans, int64_t ldb, int64_t j0, int64_t nc, int64_t k0, int64_t kc,
                            float* dst) {
  float* scratch = t_panel.get(static_cast<size_t>(NR * kc));
  for (int64_t p = 0; p < nc; p += NR, dst += NR * kc) {
    gemm_avx512::pack_b<D>(b, trans, ldb, j0 + p, std::min<int64_t>(NR, nc - p), k0, kc, scratch);
    pair_panel<NR>(scratch, kc, reinterpret_cast<uint32_t*>(dst));
  }
}

// C[R x cols] = alpha * Ap @ Bp + beta * C (+ bias), as gemm_avx512::kernel, over kp = ceil(kc / 2) pair steps.
template <int R>
LMF_AVX512_BF16 void kernel(int64_t kc, const float* __restrict ap_f, const float* __restrict bp_f, float* c,
                            int64_t ldc, int cols, float alpha, float beta, const float* bias) {
  const uint32_t* ap = reinterpret_cast<const uint32_t*>(ap_f);
  const uint32_t* bp = reinterpret_cast<const uint32_t*>(bp_f);
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) {
    acc0[r] = _mm512_setzero_ps();
    acc1[r] = _mm512_setzero_ps();
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + NR - 1), _MM_HINT_T0);
  }
  const int64_t kp = (kc + 1) / 2;
  for (int64_t p = 0; p < kp; ++p) {
    __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_load_si512(bp));
    __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_load_si512(bp + 16));
    _mm_prefetch(reinterpret_cast<const char*>(bp + 8 * NR), _MM_HINT_T0);
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) {
      __m512bh av = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(ap[r])));
      acc0[r] = _mm512_dpbf16_ps(acc0[r], av, b0);
      acc1[r] = _mm512_dpbf16_ps(acc1[r], av, b1);
    }
    ap += MR;
    bp += NR;
  }
  gemm_avx512::store_tile<R>(acc0, acc1, c, ldc, cols, alpha, beta, bias);
}

using KernelFn = void (*)(int64_t, const float*, const float*, float*, int64_t, int, float, float, const float*);
inline KernelFn kernel_for_rows(int rows) {
  static const KernelFn table[MR + 1] = {nullptr,    kernel<1>,  kernel<2>,  kernel<3>,  kernel<4>,
                                         kernel<5>,  kernel<6>,  kernel<7>,  kernel<8>,  kernel<9>,
                                         kernel<10>, kernel<11>, kernel<12>, kernel<13>, kernel<14>};
  return table[rows];
}

}  // namespace lmf::gemm_avx512_bf16

#pragma GCC diagnostic pop
#endif
