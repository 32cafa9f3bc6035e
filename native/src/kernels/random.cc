// Seeded tensor initialisation from the Philox word stream (core/philox.h). Element i reads fixed words after
// `offset`, so the values are the same for any thread count and chunking.
//   uniform: out[i] = lo + (hi - lo) * u,   u = (word(offset + i) >> 8) / 2^24 in [0, 1)
//   normal:  out[i] = mean + std * z,       z = Box-Muller of words (offset + 2i, offset + 2i + 1)
//   out: [N] f32
#include <cmath>
#include <cstdint>

#include "core/napi_util.h"
#include "core/philox.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {

constexpr int64_t kRandomGrain = 1 << 13;
constexpr double kTwoPi = 6.283185307179586476925286766559;

// uniform(out, n, lo, hi, seed, offset)
static Napi::Value Uniform(const Napi::CallbackInfo& info) {
  float* out = arg_ptr<float>(info, 0);
  int64_t n = arg_int(info, 1);
  double lo = arg_double(info, 2), hi = arg_double(info, 3);
  uint64_t seed = u64_from_double(arg_double(info, 4));
  uint64_t offset = u64_from_double(arg_double(info, 5));
  parallel_for(n, kRandomGrain, [&](int64_t b, int64_t e) {
    for_each_philox_word(seed, offset, b, e, [&](int64_t i, uint32_t word) {
      out[i] = static_cast<float>(lo + (hi - lo) * unit_from_word(word));
    });
  });
  return info.Env().Undefined();
}

// normal(out, n, mean, std, seed, offset): consumes 2n words.
static Napi::Value Normal(const Napi::CallbackInfo& info) {
  float* out = arg_ptr<float>(info, 0);
  int64_t n = arg_int(info, 1);
  double mean = arg_double(info, 2), stddev = arg_double(info, 3);
  uint64_t seed = u64_from_double(arg_double(info, 4));
  uint64_t offset = u64_from_double(arg_double(info, 5));
  parallel_for(n, kRandomGrain, [&](int64_t b, int64_t e) {
    PhiloxWords words(seed);
    for (int64_t i = b; i < e; ++i) {
      uint64_t w = offset + 2 * static_cast<uint64_t>(i);
      double u1 = (static_cast<double>(words.at(w)) + 0.5) * (1.0 / 4294967296.0);  // (0, 1): log stays finite
      double u2 = static_cast<double>(words.at(w + 1)) * (1.0 / 4294967296.0);
      double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
      out[i] = static_cast<float>(mean + stddev * z);
    }
  });
  return info.Env().Undefined();
}

// philox(k0, k1, c0, c1, c2, c3) -> [w0, w1, w2, w3]: one raw block (32-bit key and counter words), for
// known-answer tests.
static Napi::Value Philox(const Napi::CallbackInfo& info) {
  auto u32 = [&](size_t i) { return static_cast<uint32_t>(arg_double(info, i)); };
  PhiloxBlock r = philox4x32_10(u32(2), u32(3), u32(4), u32(5), u32(0), u32(1));
  Napi::Array out = Napi::Array::New(info.Env(), 4);
  for (uint32_t i = 0; i < 4; ++i) out.Set(i, Napi::Number::New(info.Env(), r.w[i]));
  return out;
}

LMF_MODULE(random) {
  exports.Set("uniform", Napi::Function::New(env, Uniform));
  exports.Set("normal", Napi::Function::New(env, Normal));
  exports.Set("philox", Napi::Function::New(env, Philox));
}

}  // namespace lmf
