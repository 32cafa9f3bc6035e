// Elementwise kernels over n contiguous f32 values. Their backwards are themselves elementwise products and sums,
// so the forward kernels serve both passes (see src/engine/ops/elementwise.ts):
//   add:   out = a + b          da = g,      db = g
//   mul:   out = a * b          da = g * b,  db = g * a
//   scale: out = s * a          da = s * g
//   axpy:  y += alpha * x       (gradient accumulation, in place)
//   fill:  out = value
#include <cstdint>

#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {

constexpr int64_t kGrain = 1 << 15;  // below ~32k values a thread handoff costs more than it saves

static Napi::Value Add(const Napi::CallbackInfo& info) {
  const float* a = arg_ptr<float>(info, 0);
  const float* b = arg_ptr<float>(info, 1);
  float* out = arg_ptr<float>(info, 2);
  int64_t n = arg_int(info, 3);
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = a[i] + b[i];
  });
  return info.Env().Undefined();
}

static Napi::Value Mul(const Napi::CallbackInfo& info) {
  const float* a = arg_ptr<float>(info, 0);
  const float* b = arg_ptr<float>(info, 1);
  float* out = arg_ptr<float>(info, 2);
  int64_t n = arg_int(info, 3);
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = a[i] * b[i];
  });
  return info.Env().Undefined();
}

static Napi::Value Scale(const Napi::CallbackInfo& info) {
  const float* a = arg_ptr<float>(info, 0);
  float s = static_cast<float>(arg_double(info, 1));
  float* out = arg_ptr<float>(info, 2);
  int64_t n = arg_int(info, 3);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = s * a[i];
  });
  return info.Env().Undefined();
}

static Napi::Value Axpy(const Napi::CallbackInfo& info) {
  float alpha = static_cast<float>(arg_double(info, 0));
  const float* x = arg_ptr<float>(info, 1);
  float* y = arg_ptr<float>(info, 2);
  int64_t n = arg_int(info, 3);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] += alpha * x[i];
  });
  return info.Env().Undefined();
}

static Napi::Value Fill(const Napi::CallbackInfo& info) {
  float* out = arg_ptr<float>(info, 0);
  float v = static_cast<float>(arg_double(info, 1));
  int64_t n = arg_int(info, 2);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = v;
  });
  return info.Env().Undefined();
}

LMF_MODULE(elementwise) {
  exports.Set("add", Napi::Function::New(env, Add));
  exports.Set("mul", Napi::Function::New(env, Mul));
  exports.Set("scale", Napi::Function::New(env, Scale));
  exports.Set("axpy", Napi::Function::New(env, Axpy));
  exports.Set("fill", Napi::Function::New(env, Fill));
}

}  // namespace lmf
