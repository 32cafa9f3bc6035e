// Integer conversions for checkpoint files whose integer dtypes the engine does not store (it keeps i32 only):
//   narrowI64ToI32(src, dst, n) -> index of the first value outside the i32 range, or -1 when all fit
//   widenI32ToI64(src, dst, n)   (saving i32 tensors as I64, as PyTorch stores token ids)
//   widenU8ToI32(src, dst, n)    (U8 and BOOL: one byte per element, 0/1 for BOOL)
// src/dst are Storages of n elements of the named types.
#include <cstdint>
#include <limits>

#include "core/napi_util.h"
#include "core/registry.h"

namespace lmf {

static Napi::Value NarrowI64ToI32(const Napi::CallbackInfo& info) {
  const int64_t* src = arg_ptr<int64_t>(info, 0);
  int32_t* dst = arg_ptr<int32_t>(info, 1);
  int64_t n = arg_int(info, 2);
  // Serial on purpose: token-id tensors are small, and the first bad index must be the first in order.
  for (int64_t i = 0; i < n; ++i) {
    int64_t v = src[i];
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
      return Napi::Number::New(info.Env(), static_cast<double>(i));
    dst[i] = static_cast<int32_t>(v);
  }
  return Napi::Number::New(info.Env(), -1);
}

static Napi::Value WidenI32ToI64(const Napi::CallbackInfo& info) {
  const int32_t* src = arg_ptr<int32_t>(info, 0);
  int64_t* dst = arg_ptr<int64_t>(info, 1);
  int64_t n = arg_int(info, 2);
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  return info.Env().Undefined();
}

static Napi::Value WidenU8ToI32(const Napi::CallbackInfo& info) {
  const uint8_t* src = arg_ptr<uint8_t>(info, 0);
  int32_t* dst = arg_ptr<int32_t>(info, 1);
  int64_t n = arg_int(info, 2);
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  return info.Env().Undefined();
}

LMF_MODULE(int_convert) {
  exports.Set("narrowI64ToI32", Napi::Function::New(env, NarrowI64ToI32));
  exports.Set("widenI32ToI64", Napi::Function::New(env, WidenI32ToI64));
  exports.Set("widenU8ToI32", Napi::Function::New(env, WidenU8ToI32));
}

}  // namespace lmf
