// SiLU and the fused SwiGLU of Llama's MLP, f32, over n contiguous values (gate and up have the same shape).
//   silu(x)   = x * sigmoid(x) = x / (1 + exp(-x))
//   silu'(x)  = s * (1 + x * (1 - s)),  s = sigmoid(x)
//   swiglu:   out = silu(gate) * up
//             dgate = g * up * silu'(gate),  dup = g * silu(gate)
// The backward recomputes sigmoid from the saved inputs instead of storing it (memory-bound either way).
// exp is a branch-free polynomial (Cephes expf, ~1 ulp) so the loops vectorize on every ISA path.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <cstring>

#include "core/cpu.h"
#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"
#include "kernels/isa_targets.h"

namespace lmf {

// Work is split in whole blocks so every value lands at the same place relative to the vector loop's tail, which
// keeps results bit-identical for any thread count.
constexpr int64_t kBlock = 1024;
constexpr int64_t kBlocksPerTask = 16;

static void for_blocks(int64_t n, const std::function<void(int64_t begin, int64_t count)>& fn) {
  parallel_for((n + kBlock - 1) / kBlock, kBlocksPerTask, [&](int64_t b, int64_t e) {
    int64_t begin = b * kBlock;
    fn(begin, std::min(n, e * kBlock) - begin);
  });
}

// exp(x): the polynomial runs on x clamped to [-87.3, 88.3] (2^n stays a normal float); beyond that range the
// result is selected as 0 or inf, so sigmoid saturates to exactly 0 or 1 as with a libm exp. NaN stays NaN.
static LMF_INLINE float exp_poly(float x_in) {
  float x = x_in < -87.3f ? -87.3f : (x_in > 88.3f ? 88.3f : x_in);
  // n = round(x / ln2) by the 1.5 * 2^23 trick (round to nearest, no call to floor), r = x - n ln2 in two parts
  const float shifter = 12582912.f;
  float n = (x * 1.44269504088896341f + shifter) - shifter;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n
  float scale;
  std::memcpy(&scale, &bits, 4);
  float e = p * scale;
  e = x_in > 88.3f ? std::numeric_limits<float>::infinity() : e;
  return x_in < -87.3f ? 0.f : e;
}

static LMF_INLINE float sigmoid(float x) { return 1.f / (1.f + exp_poly(-x)); }

static LMF_INLINE void silu_forward_body(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * sigmoid(x[i]);
}
LMF_DISPATCH(silu_forward, silu_forward_body, (const float* x, float* out, int64_t n), (x, out, n))

static LMF_INLINE void silu_backward_body(const float* x, const float* g, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float s = sigmoid(x[i]);
    dx[i] = g[i] * (s * (1.f + x[i] * (1.f - s)));
  }
}
LMF_DISPATCH(silu_backward, silu_backward_body, (const float* x, const float* g, float* dx, int64_t n),
             (x, g, dx, n))

static LMF_INLINE void swiglu_forward_body(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}
LMF_DISPATCH(swiglu_forward, swiglu_forward_body, (const float* gate, const float* up, float* out, int64_t n),
             (gate, up, out, n))

static LMF_INLINE void swiglu_backward_body(const float* gate, const float* up, const float* g, float* dgate,
                                            float* dup, int64_t n) {
  if (dgate && dup) {
    for (int64_t i = 0; i < n; ++i) {
      float s = sigmoid(gate[i]);
      dgate[i] = g[i] * up[i] * (s * (1.f + gate[i] * (1.f - s)));
      dup[i] = g[i] * (gate[i] * s);
    }
  } else if (dgate) {
    for (int64_t i = 0; i < n; ++i) {
      float s = sigmoid(gate[i]);
      dgate[i] = g[i] * up[i] * (s * (1.f + gate[i] * (1.f - s)));
    }
  } else if (dup) {
    for (int64_t i = 0; i < n; ++i) dup[i] = g[i] * (gate[i] * sigmoid(gate[i]));
  }
}
LMF_DISPATCH(swiglu_backward, swiglu_backward_body,
             (const float* gate, const float* up, const float* g, float* dgate, float* dup, int64_t n),
             (gate, up, g, dgate, dup, n))

// siluForward(x, out, n)
static Napi::Value SiluForward(const Napi::CallbackInfo& info) {
  const float* x = arg_ptr<float>(info, 0);
  float* out = arg_ptr<float>(info, 1);
  for_blocks(arg_int(info, 2), [&](int64_t b, int64_t n) { silu_forward(x + b, out + b, n); });
  return info.Env().Undefined();
}

// siluBackward(x, g, dx, n)
static Napi::Value SiluBackward(const Napi::CallbackInfo& info) {
  const float* x = arg_ptr<float>(info, 0);
  const float* g = arg_ptr<float>(info, 1);
  float* dx = arg_ptr<float>(info, 2);
  for_blocks(arg_int(info, 3), [&](int64_t b, int64_t n) { silu_backward(x + b, g + b, dx + b, n); });
  return info.Env().Undefined();
}

// swigluForward(gate, up, out, n)
static Napi::Value SwigluForward(const Napi::CallbackInfo& info) {
  const float* gate = arg_ptr<float>(info, 0);
  const float* up = arg_ptr<float>(info, 1);
  float* out = arg_ptr<float>(info, 2);
  for_blocks(arg_int(info, 3), [&](int64_t b, int64_t n) { swiglu_forward(gate + b, up + b, out + b, n); });
  return info.Env().Undefined();
}

// swigluBackward(gate, up, g, dgate | null, dup | null, n)
static Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  const float* gate = arg_ptr<float>(info, 0);
  const float* up = arg_ptr<float>(info, 1);
  const float* g = arg_ptr<float>(info, 2);
  float* dgate = arg_opt_ptr<float>(info, 3);
  float* dup = arg_opt_ptr<float>(info, 4);
  for_blocks(arg_int(info, 5), [&](int64_t b, int64_t n) {
    swiglu_backward(gate + b, up + b, g + b, dgate ? dgate + b : nullptr, dup ? dup + b : nullptr, n);
  });
  return info.Env().Undefined();
}

LMF_MODULE(activation) {
  exports.Set("siluForward", Napi::Function::New(env, SiluForward));
  exports.Set("siluBackward", Napi::Function::New(env, SiluBackward));
  exports.Set("swigluForward", Napi::Function::New(env, SwigluForward));
  exports.Set("swigluBackward", Napi::Function::New(env, SwigluBackward));
}

}  // namespace lmf
