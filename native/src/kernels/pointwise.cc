// Pointwise nonlinearities of the preference and RL losses (DPO/ORPO/SimPO/IPO/hinge, KTO, PPO), forward and
// backward side by side, over n contiguous f32 values. The backward recomputes from the input x (nothing saved):
//   code 0 logsigmoid: y = log(sigmoid(x)) = -log1p(exp(-x)) (stable for both signs)  dx = g * sigmoid(-x)
//   code 1 sigmoid:    y = 1 / (1 + exp(-x))                                          dx = g * s * (1 - s)
//   code 2 relu:       y = max(x, 0)                                                  dx = g * (x > 0)
//   code 3 exp:        y = exp(x)                                                     dx = g * exp(x)
//   code 4 log1mexp:   y = log(1 - exp(x)), x < 0 (ORPO's log odds)                   dx = -g * exp(x) / (1 - exp(x))
//   code 5 tanh:       y = tanh(x) (Gemma 2's final logit soft-capping)               dx = g * (1 - tanh(x)^2)
// Values are computed in double and rounded once: these run on [B] vectors, where accuracy beats speed.
#include <cmath>
#include <cstdint>

#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {

constexpr int64_t kGrain = 1 << 14;

static double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

static double log_sigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }

// log(1 - exp(x)) for x < 0 (Maechler's split keeps both ends accurate); x >= 0 gives -inf/NaN as log would.
static double log1mexp(double x) { return x > -M_LN2 ? std::log(-std::expm1(x)) : std::log1p(-std::exp(x)); }

static double forward_value(int code, double x) {
  switch (code) {
    case 0: return log_sigmoid(x);
    case 1: return sigmoid(x);
    case 2: return x > 0 ? x : 0;
    case 3: return std::exp(x);
    case 5: return std::tanh(x);
    default: return log1mexp(x);
  }
}

static double derivative(int code, double x) {
  switch (code) {
    case 0: return sigmoid(-x);
    case 1: {
      const double s = sigmoid(x);
      return s * (1 - s);
    }
    case 2: return x > 0 ? 1 : 0;
    case 3: return std::exp(x);
    case 5: {
      const double t = std::tanh(x);
      return 1 - t * t;
    }
    default: return -1.0 / std::expm1(-x);  // -exp(x) / (1 - exp(x)) = 1 / (1 - exp(-x))
  }
}

// x [n] -> out [n]
static Napi::Value PointwiseForward(const Napi::CallbackInfo& info) {
  const int code = static_cast<int>(arg_int(info, 0));
  LMF_CHECK(info.Env(), code >= 0 && code <= 5, "pointwiseForward: unknown function code");
  const float* x = arg_ptr<float>(info, 1);
  float* out = arg_ptr<float>(info, 2);
  const int64_t n = arg_int(info, 3);
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = static_cast<float>(forward_value(code, x[i]));
  });
  return info.Env().Undefined();
}

// x [n], g [n] -> dx [n]
static Napi::Value PointwiseBackward(const Napi::CallbackInfo& info) {
  const int code = static_cast<int>(arg_int(info, 0));
  LMF_CHECK(info.Env(), code >= 0 && code <= 5, "pointwiseBackward: unknown function code");
  const float* x = arg_ptr<float>(info, 1);
  const float* g = arg_ptr<float>(info, 2);
  float* dx = arg_ptr<float>(info, 3);
  const int64_t n = arg_int(info, 4);
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) dx[i] = static_cast<float>(static_cast<double>(g[i]) * derivative(code, x[i]));
  });
  return info.Env().Undefined();
}

LMF_MODULE(pointwise) {
  exports.Set("pointwiseForward", Napi::Function::New(env, PointwiseForward));
  exports.Set("pointwiseBackward", Napi::Function::New(env, PointwiseBackward));
}

}  // namespace lmf
