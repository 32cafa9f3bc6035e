// Every native source file registers its N-API functions here from a static initializer, so adding a kernel file
// touches no shared file: binding.cc walks the registry when the addon loads.
#pragma once
#include <napi.h>

namespace lmf {

using ModuleInit = void (*)(Napi::Env env, Napi::Object exports);
int register_module(const char* name, ModuleInit init);
void init_all_modules(Napi::Env env, Napi::Object exports);

}  // namespace lmf

// LMF_MODULE(gemm) { exports.Set("gemm", Napi::Function::New(env, Gemm)); }
#define LMF_MODULE(name)                                                             \
  static void lmf_init_##name(Napi::Env env, Napi::Object exports);                  \
  static const int lmf_registered_##name = ::lmf::register_module(#name, lmf_init_##name); \
  static void lmf_init_##name(Napi::Env env, Napi::Object exports)
