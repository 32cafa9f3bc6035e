// Sum of squares of n f32 values, accumulated in double. Fixed blocks are summed independently and then added in
// block order, so the result is the same for every thread count (gradient norms must not depend on the machine).
//   x: [N] f32  ->  sum_i x[i]^2 (a double)
// Backward (src/engine/ops/sum-squares.ts): dx = 2 * g * x, an elementwise scale.
#include <cstdint>
#include <vector>

#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {

constexpr int64_t kSumBlock = 1 << 14;  // values per partial sum

static double sum_squares(const float* x, int64_t n) {
  int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  parallel_for(blocks, 4, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      int64_t s = blk * kSumBlock, end = s + kSumBlock < n ? s + kSumBlock : n;
      // Four accumulators let the compiler keep several additions in flight.
      double acc[4] = {0, 0, 0, 0};
      int64_t i = s;
      for (; i + 4 <= end; i += 4)
        for (int k = 0; k < 4; ++k) acc[k] += static_cast<double>(x[i + k]) * static_cast<double>(x[i + k]);
      for (; i < end; ++i) acc[0] += static_cast<double>(x[i]) * static_cast<double>(x[i]);
      partial[static_cast<size_t>(blk)] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
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
