#include "core/cpu.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/napi_util.h"
#include "core/registry.h"

namespace lmf {

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    c.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    c.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    c.f16c = __builtin_cpu_supports("f16c");
#if defined(__GNUC__) && __GNUC__ >= 12
    c.avx512_bf16 = __builtin_cpu_supports("avx512bf16");
#endif
#endif
    return c;
  }();
  return f;
}

// Cap levels: the Isa values, plus one above avx512 that also allows the AVX512_BF16 instructions.
constexpr int kCapBf16 = 3;

static int parse_cap(const char* s, int fallback) {
  if (!s) return fallback;
  if (!std::strcmp(s, "portable")) return static_cast<int>(Isa::portable);
  if (!std::strcmp(s, "avx2")) return static_cast<int>(Isa::avx2);
  if (!std::strcmp(s, "avx512")) return static_cast<int>(Isa::avx512);
  if (!std::strcmp(s, "avx512bf16")) return kCapBf16;
  return fallback;
}

static int g_cap = parse_cap(std::getenv("LMFORGE_ISA"), kCapBf16);

Isa isa() {
  const CpuFeatures& f = cpu_features();
  Isa hw = f.avx512 && f.avx2_fma ? Isa::avx512 : f.avx2_fma ? Isa::avx2 : Isa::portable;
  return static_cast<int>(hw) < g_cap ? hw : static_cast<Isa>(std::min(g_cap, static_cast<int>(Isa::avx512)));
}

bool bf16_instructions() { return g_cap >= kCapBf16 && isa() == Isa::avx512 && cpu_features().avx512_bf16; }

void set_isa(Isa cap) { g_cap = static_cast<int>(cap); }

const char* isa_name(Isa i) {
  switch (i) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "portable";
  }
}

static Napi::Value GetIsa(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), isa_name(isa())); }
static Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  std::string s = info[0].As<Napi::String>().Utf8Value();
  g_cap = parse_cap(s.c_str(), kCapBf16);
  return Napi::String::New(info.Env(), isa_name(isa()));
}
static Napi::Value Bf16Instructions(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), bf16_instructions());
}
static Napi::Value Features(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  const CpuFeatures& f = cpu_features();
  o.Set("avx2Fma", f.avx2_fma);
  o.Set("avx512", f.avx512);
  o.Set("f16c", f.f16c);
  o.Set("avx512Bf16", f.avx512_bf16);
  return o;
}

LMF_MODULE(cpu) {
  exports.Set("isa", Napi::Function::New(env, GetIsa));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  exports.Set("cpuFeatures", Napi::Function::New(env, Features));
  exports.Set("bf16Instructions", Napi::Function::New(env, Bf16Instructions));
}

}  // namespace lmf
