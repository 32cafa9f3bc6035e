// Whole-tensor reductions for scalar losses, and the broadcast their backward needs.
//   sumAll:          x [n] -> out [1]; fixed blocks of kBlock values are summed in double, then the block sums are
//                    added in block order: accurate, and independent of the thread count
//   broadcastScalar: out[i] = scale * src[0]   (d sum / dx = g, d mean / dx = g / n)
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {

constexpr int64_t kBlock = 1 << 13;

// sumAll(x, out, n, scale): out[0] = scale * sum(x) (scale = 1 / n gives the mean, rounded once)
static Napi::Value SumAll(const Napi::CallbackInfo& info) {
  const float* x = arg_ptr<float>(info, 0);
  float* out = arg_ptr<float>(info, 1);
  int64_t n = arg_int(info, 2);
  double scale = arg_double(info, 3);
  int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  parallel_for(blocks, 4, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      int64_t s = blk * kBlock, end = std::min(n, s + kBlock);
      double acc[4] = {0, 0, 0, 0};  // four chains: the add latency, not the count, limits one chain
      int64_t i = s;
      for (; i + 4 <= end; i += 4)
        for (int k = 0; k < 4; ++k) acc[k] += x[i + k];
      for (; i < end; ++i) acc[0] += x[i];
      partial[blk] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
  });
  double total = 0.0;
  for (double p : partial) total += p;
  out[0] = static_cast<float>(total * scale);
  return info.Env().Undefined();
}

// broadcastScalar(src, scale, out, n)
static Napi::Value BroadcastScalar(const Napi::CallbackInfo& info) {
  const float* src = arg_ptr<float>(info, 0);
  float v = static_cast<float>(static_cast<double>(src[0]) * arg_double(info, 1));
  float* out = arg_ptr<float>(info, 2);
  int64_t n = arg_int(info, 3);
  parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) { std::fill(out + b, out + e, v); });
  return info.Env().Undefined();
}

LMF_MODULE(reduce) {
  exports.Set("sumAll", Napi::Function::New(env, SumAll));
  exports.Set("broadcastScalar", Napi::Function::New(env, BroadcastScalar));
}

}  // namespace lmf
