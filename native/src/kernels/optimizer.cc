// Fused in-place optimizer steps over one parameter tensor, in torch.optim's f32 order of operations so that a
// step matches PyTorch to rounding. Scalars arrive as doubles; like ATen, each is rounded to f32 where it multiplies
// a tensor, while the bias corrections and step size are formed in double first.
//   p, g, m, v, buf: [N] f32 (parameter, gradient, AdamW moments, SGD momentum buffer)
//
// AdamW (torch _single_tensor_adamw, amsgrad=False, maximize=False), step t >= 1:
//   p = p * (1 - lr*wd)
//   m = m * b1 + (1 - b1) * g
//   v = v * b2 + (1 - b2) * g * g
//   denom = sqrt(v) / sqrt(1 - b2^t) + eps
//   p = p + (-lr / (1 - b1^t)) * m / denom
// SGD (torch _single_tensor_sgd, maximize=False):
//   d = g + wd * p                                        (when wd != 0)
//   buf = first ? d : buf * momentum + (1 - dampening) * d (when momentum != 0)
//   d = nesterov ? d + momentum * buf : buf                (when momentum != 0)
//   p = p + (-lr) * d
#include <cmath>
#include <cstdint>

#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {

constexpr int64_t kOptimGrain = 1 << 15;

// adamw(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, step)
static Napi::Value AdamW(const Napi::CallbackInfo& info) {
  float* p = arg_ptr<float>(info, 0);
  const float* g = arg_ptr<float>(info, 1);
  float* m = arg_ptr<float>(info, 2);
  float* v = arg_ptr<float>(info, 3);
  int64_t n = arg_int(info, 4);
  double lr = arg_double(info, 5), beta1 = arg_double(info, 6), beta2 = arg_double(info, 7);
  double eps = arg_double(info, 8), wd = arg_double(info, 9), step = arg_double(info, 10);
  LMF_CHECK(info.Env(), step >= 1, "adamw: step must be >= 1 (count the step before calling the kernel)");
  const float decay = static_cast<float>(1.0 - lr * wd);
  const float b1 = static_cast<float>(beta1), one_minus_b1 = static_cast<float>(1.0 - beta1);
  const float b2 = static_cast<float>(beta2), one_minus_b2 = static_cast<float>(1.0 - beta2);
  const float neg_step_size = static_cast<float>(-(lr / (1.0 - std::pow(beta1, step))));
  const float bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, step)));
  const float epsf = static_cast<float>(eps);
  parallel_for(n, kOptimGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float gi = g[i];
      float pi = p[i] * decay;
      float mi = m[i] * b1 + one_minus_b1 * gi;
      float vi = v[i] * b2 + one_minus_b2 * gi * gi;
      float denom = std::sqrt(vi) / bc2_sqrt + epsf;
      p[i] = pi + neg_step_size * mi / denom;
      m[i] = mi;
      v[i] = vi;
    }
  });
  return info.Env().Undefined();
}

// sgd(p, g, buf | null, n, lr, momentum, dampening, weightDecay, nesterov, firstStep)
static Napi::Value Sgd(const Napi::CallbackInfo& info) {
  float* p = arg_ptr<float>(info, 0);
  const float* g = arg_ptr<float>(info, 1);
  float* buf = arg_opt_ptr<float>(info, 2);
  int64_t n = arg_int(info, 3);
  double lr = arg_double(info, 4), momentum = arg_double(info, 5), dampening = arg_double(info, 6);
  double wd = arg_double(info, 7);
  bool nesterov = arg_bool(info, 8), first = arg_bool(info, 9);
  LMF_CHECK(info.Env(), momentum == 0 || buf != nullptr, "sgd: momentum needs a buffer");
  const float neg_lr = static_cast<float>(-lr), mom = static_cast<float>(momentum);
  const float one_minus_damp = static_cast<float>(1.0 - dampening), wdf = static_cast<float>(wd);
  const bool decay = wd != 0, use_momentum = momentum != 0;
  parallel_for(n, kOptimGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float d = g[i];
      if (decay) d = d + wdf * p[i];
      if (use_momentum) {
        float bi = first ? d : buf[i] * mom + one_minus_damp * d;
        buf[i] = bi;
        d = nesterov ? d + mom * bi : bi;
      }
      p[i] = p[i] + neg_lr * d;
    }
  });
  return info.Env().Undefined();
}

LMF_MODULE(optimizer) {
  exports.Set("adamw", Napi::Function::New(env, AdamW));
  exports.Set("sgd", Napi::Function::New(env, Sgd));
}

}  // namespace lmf
