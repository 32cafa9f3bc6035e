// Small helpers for reading kernel arguments: storages, integers, doubles; and a check that throws a JS error.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "core/storage.h"

// Throws a JavaScript Error and returns undefined from the calling N-API function when cond is false.
#define LMF_CHECK(env, cond, msg)                                  \
  do {                                                             \
    if (!(cond)) {                                                 \
      Napi::Error::New((env), std::string(msg)).ThrowAsJavaScriptException(); \
      return (env).Undefined();                                    \
    }                                                              \
  } while (0)

namespace lmf {

inline Storage* arg_storage(const Napi::CallbackInfo& info, size_t i) {
  return info[i].As<Napi::External<Storage>>().Data();
}
template <typename T>
inline T* arg_ptr(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<T*>(arg_storage(info, i)->data);
}
// Like arg_ptr, but null/undefined (an optional input) gives nullptr.
template <typename T>
inline T* arg_opt_ptr(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  return arg_ptr<T>(info, i);
}
inline int64_t arg_int(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int64Value(); }
inline double arg_double(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().DoubleValue(); }
inline bool arg_bool(const Napi::CallbackInfo& info, size_t i) { return info[i].ToBoolean().Value(); }

}  // namespace lmf
