// The row primitives of sparse mixture-of-experts routing (src/engine/ops/moe-routing.ts).
// Softmax over the last dimension of short rows (router probabilities), forward and backward side by side:
//   forward:  x [R, E] -> y [R, E],  y = exp(x - max) / sum(exp(x - max))   (-inf entries give 0; a row of all -inf
//             gives NaN, as torch.softmax does)
//   backward: y [R, E], g [R, E] -> dx [R, E],  dx = y * (g - sum(g * y))   (from the saved output, nothing else)
// Values are accumulated in double and rounded once: rows are a few dozen experts wide, accuracy beats speed.
// Index-add of rows (an expert's outputs back to their tokens; the backward of a row gather):
//   out [R, C] += src[i, :] at row ids[i], for i < M   (ids in [0, R); repeats add up)
// Parallel over column blocks, each walking i in order, so the sums do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {

static Napi::Value SoftmaxRowsForward(const Napi::CallbackInfo& info) {
  const float* x = arg_ptr<float>(info, 0);
  float* y = arg_ptr<float>(info, 1);
  const int64_t R = arg_int(info, 2);
  const int64_t E = arg_int(info, 3);
  LMF_CHECK(info.Env(), E > 0, "softmaxRowsForward: rows must have at least one value");
  const int64_t grain = std::max<int64_t>(1, 4096 / E);
  parallel_for(R, grain, [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r) {
      const float* xr = x + r * E;
      float* yr = y + r * E;
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < E; ++j) m = std::max(m, static_cast<double>(xr[j]));
      double sum = 0;
      for (int64_t j = 0; j < E; ++j) sum += std::exp(static_cast<double>(xr[j]) - m);
      for (int64_t j = 0; j < E; ++j) yr[j] = static_cast<float>(std::exp(static_cast<double>(xr[j]) - m) / sum);
    }
  });
  return info.Env().Undefined();
}

static Napi::Value SoftmaxRowsBackward(const Napi::CallbackInfo& info) {
  const float* y = arg_ptr<float>(info, 0);
  const float* g = arg_ptr<float>(info, 1);
  float* dx = arg_ptr<float>(info, 2);
  const int64_t R = arg_int(info, 3);
  const int64_t E = arg_int(info, 4);
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(E, 1));
  parallel_for(R, grain, [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r) {
      const float* yr = y + r * E;
      const float* gr = g + r * E;
      double dot = 0;
      for (int64_t j = 0; j < E; ++j) dot += static_cast<double>(gr[j]) * yr[j];
      for (int64_t j = 0; j < E; ++j) dx[r * E + j] = static_cast<float>(yr[j] * (gr[j] - dot));
    }
  });
  return info.Env().Undefined();
}

static Napi::Value IndexAddRows(const Napi::CallbackInfo& info) {
  const float* src = arg_ptr<float>(info, 0);
  const int32_t* ids = arg_ptr<int32_t>(info, 1);
  float* out = arg_ptr<float>(info, 2);
  const int64_t M = arg_int(info, 3);
  const int64_t R = arg_int(info, 4);
  const int64_t C = arg_int(info, 5);
  for (int64_t i = 0; i < M; ++i)
    LMF_CHECK(info.Env(), ids[i] >= 0 && ids[i] < R, "indexAddRows: a row id is outside [0, R)");
  constexpr int64_t kCols = 256;
  const int64_t blocks = (C + kCols - 1) / kCols;
  parallel_for(blocks, 1, [&](int64_t s, int64_t e) {
    for (int64_t b = s; b < e; ++b) {
      const int64_t c0 = b * kCols;
      const int64_t c1 = std::min(C, c0 + kCols);
      for (int64_t i = 0; i < M; ++i) {
        const float* sr = src + i * C;
        float* orow = out + static_cast<int64_t>(ids[i]) * C;
        for (int64_t c = c0; c < c1; ++c) orow[c] += sr[c];
      }
    }
  });
  return info.Env().Undefined();
}

LMF_MODULE(moe_routing) {
  exports.Set("indexAddRows", Napi::Function::New(env, IndexAddRows));
  exports.Set("softmaxRowsForward", Napi::Function::New(env, SoftmaxRowsForward));
  exports.Set("softmaxRowsBackward", Napi::Function::New(env, SoftmaxRowsBackward));
}

}  // namespace lmf
