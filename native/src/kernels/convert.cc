// dtype conversion between storages: convert(src, srcDtype, dst, dstDtype, n). f32 <-> bf16/f16/i32.
#include <cstdint>

#include "core/dtype.h"
#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {

static float load_as_f32(const void* p, DType d, int64_t i) {
  switch (d) {
    case DType::f32: return static_cast<const float*>(p)[i];
    case DType::bf16: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::f16: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::i32: return static_cast<float>(static_cast<const int32_t*>(p)[i]);
  }
  return 0.f;
}

static void store_from_f32(void* p, DType d, int64_t i, float v) {
  switch (d) {
    case DType::f32: static_cast<float*>(p)[i] = v; break;
    case DType::bf16: static_cast<uint16_t*>(p)[i] = f32_to_bf16(v); break;
    case DType::f16: static_cast<uint16_t*>(p)[i] = f32_to_f16(v); break;
    case DType::i32: static_cast<int32_t*>(p)[i] = static_cast<int32_t>(v); break;
  }
}

static Napi::Value Convert(const Napi::CallbackInfo& info) {
  const void* src = arg_ptr<void>(info, 0);
  DType sd = static_cast<DType>(arg_int(info, 1));
  void* dst = arg_ptr<void>(info, 2);
  DType dd = static_cast<DType>(arg_int(info, 3));
  int64_t n = arg_int(info, 4);
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) store_from_f32(dst, dd, i, load_as_f32(src, sd, i));
  });
  return info.Env().Undefined();
}

LMF_MODULE(convert) { exports.Set("convert", Napi::Function::New(env, Convert)); }

}  // namespace lmf
