// Sum of squares of n f32 values, accumulated in double. Fixed blocks are summed independently and then added in
// block order, so the result is the same for every thread count and every ISA path (gradient norms must not depend
// on the machine).
//   x: [N] f32  ->  sum_i x[i]^2 (a double)
// Backward (src/engine/ops/sum-squares.ts): dx = 2 * g * x, an elementwise scale.
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cstdint>
#include <vector>

#include "core/cpu.h"
#include "core/vec.h"

#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {

constexpr int64_t kSumBlock = 1 << 14;  // values per partial sum

// One block's sum in 8 double lanes: lane l takes x[i] with i % 8 == l, summed in order, then the lanes are added
// as ((0+1)+(2+3))+((4+5)+(6+7)). Every ISA path computes exactly this, so the norm does not depend on the machine
// (a float's square is exact in double, so a fused multiply-add rounds the same as a multiply then an add).
#if defined(__x86_64__)
LMF_TARGET_AVX512 static double block_avx512(const float* x, int64_t n) {
  __m512d acc = _mm512_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512d v = _mm512_maskz_cvtps_pd(0xFF, _mm256_loadu_ps(x + i));  // maskz: GCC 12 warns on the plain form
    acc = _mm512_add_pd(acc, _mm512_mul_pd(v, v));
  }
  alignas(64) double lane[8];
  _mm512_store_pd(lane, acc);
  for (int64_t l = 0; i < n; ++i, ++l) lane[l] += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}
#endif

static double block_portable(const float* x, int64_t n) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) {
      const double v = static_cast<double>(x[i + l]);
      const double sq = v * v;
      lane[l] = lane[l] + sq;
    }
  for (int64_t l = 0; i < n; ++i, ++l) lane[l] += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

static double sum_squares(const float* x, int64_t n) {
  int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
#if defined(__x86_64__)
  double (*block)(const float*, int64_t) = isa() == Isa::avx512 ? block_avx512 : block_portable;
#else
  double (*block)(const float*, int64_t) = block_portable;
#endif
  parallel_for(blocks, 4, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      int64_t s = blk * kSumBlock, end = s + kSumBlock < n ? s + kSumBlock : n;
      partial[static_cast<size_t>(blk)] = block(x + s, end - s);
    }
  });
  double total = 0;
  for (double v : partial) total += v;
  return total;
}

// sumSquares(x, n) -> number
static Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), sum_squares(arg_ptr<float>(info, 0), arg_int(info, 1)));
}

LMF_MODULE(sum_squares) { exports.Set("sumSquares", Napi::Function::New(env, SumSquares)); }

}  // namespace lmf
