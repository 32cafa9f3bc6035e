// Dropout with a counter-based mask: element i is kept when the Philox word (offset + i) of `seed` clears the drop
// threshold, so the backward recomputes the same mask from (seed, offset) and nothing is stored between passes.
// The backward is the same kernel applied to the output gradient (dx = g * mask / (1 - p)).
//   x, out: [N] f32 (any shape, contiguous)
//   keep element i  <=>  (word(seed, offset + i) >> 8) >= drop_threshold,  drop_threshold = ceil(p * 2^24)
//   out[i] = keep ? x[i] * scale : 0,   scale = 1 / (1 - p)
#include <cmath>
#include <cstdint>

#include "core/napi_util.h"
#include "core/philox.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {

constexpr int64_t kDropoutGrain = 1 << 14;  // a Philox block per 4 values: more work per value than a plain copy

// dropout(x, out, n, p, seed, offset): out may alias x (in place).
static Napi::Value Dropout(const Napi::CallbackInfo& info) {
  const float* x = arg_ptr<float>(info, 0);
  float* out = arg_ptr<float>(info, 1);
  int64_t n = arg_int(info, 2);
  double p = arg_double(info, 3);
  uint64_t seed = u64_from_double(arg_double(info, 4));
  uint64_t offset = u64_from_double(arg_double(info, 5));
  LMF_CHECK(info.Env(), p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1]");
  uint32_t threshold = static_cast<uint32_t>(std::ceil(p * 16777216.0));
  float scale = p >= 1.0 ? 0.0f : static_cast<float>(1.0 / (1.0 - p));
  parallel_for(n, kDropoutGrain, [&](int64_t b, int64_t e) {
    for_each_philox_word(seed, offset, b, e, [&](int64_t i, uint32_t word) {
      out[i] = (word >> 8) >= threshold ? x[i] * scale : 0.0f;
    });
  });
  return info.Env().Undefined();
}

LMF_MODULE(dropout) { exports.Set("dropout", Napi::Function::New(env, Dropout)); }

}  // namespace lmf
