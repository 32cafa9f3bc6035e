// Rotary position embedding in HF's rotate-half layout, f32.
//   x [B, T, H, D], pos i32 [B, T], inv_freq [R/2] (f32, from ropeInvFreq in src/engine/ops/rope.ts), h = R/2
//   R <= D is the rotary dim: partial rotary embeddings (Phi's partial_rotary_factor) rotate the first R dims of
//   each head as HF's q[..., :rotary_dim] and pass dims [R, D) through unchanged (forward and backward).
//   per token: f[i] = inv_freq[i] * pos (f32), c[i] = cos(f[i]) * af, s[i] = sin(f[i]) * af (af: attention factor)
//   forward:  out[i] = x[i] * c[i] - x[i+h] * s[i],   out[i+h] = x[i+h] * c[i] + x[i] * s[i]      (i < h)
//   backward: the transposed rotation, i.e. the same formula with s negated:
//             dx[i] = g[i] * c[i] + g[i+h] * s[i],    dx[i+h] = g[i+h] * c[i] - g[i] * s[i]
// cos/sin are computed once per token and shared by its H heads; work is split by token, so results do not depend
// on the thread count.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/cpu.h"
#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"
#include "kernels/isa_targets.h"

namespace lmf {

// Rotates the H heads of one token. s already carries the sign (negated for the backward).
static LMF_INLINE void rotate_heads_body(const float* x, float* out, const float* c, const float* s, int64_t H,
                                         int64_t D, int64_t h) {
  for (int64_t hd = 0; hd < H; ++hd) {
    if (2 * h < D) std::copy(x + hd * D + 2 * h, x + (hd + 1) * D, out + hd * D + 2 * h);
    const float* a = x + hd * D;
    const float* b = a + h;
    float* oa = out + hd * D;
    float* ob = oa + h;
    for (int64_t i = 0; i < h; ++i) {
      float ai = a[i], bi = b[i];
      oa[i] = ai * c[i] - bi * s[i];
      ob[i] = bi * c[i] + ai * s[i];
    }
  }
}
LMF_DISPATCH(rotate_heads, rotate_heads_body,
             (const float* x, float* out, const float* c, const float* s, int64_t H, int64_t D, int64_t h),
             (x, out, c, s, H, D, h))

// ropeApply(x, pos, invFreq: Float32Array, out, BT, H, D, attentionFactor, transpose)
static Napi::Value RopeApply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const float* x = arg_ptr<float>(info, 0);
  const int32_t* pos = arg_ptr<int32_t>(info, 1);
  Napi::Float32Array inv = info[2].As<Napi::Float32Array>();
  float* out = arg_ptr<float>(info, 3);
  int64_t BT = arg_int(info, 4), H = arg_int(info, 5), D = arg_int(info, 6);
  float af = static_cast<float>(arg_double(info, 7));
  bool transpose = arg_bool(info, 8);
  const int64_t h = static_cast<int64_t>(inv.ElementLength());
  LMF_CHECK(env, h >= 1 && 2 * h <= D, "ropeApply: invFreq must hold rotary_dim / 2 values, rotary_dim <= head_dim");
  const float* inv_freq = inv.Data();
  float sign = transpose ? -1.f : 1.f;
  int64_t grain = std::max<int64_t>(1, (1 << 13) / std::max<int64_t>(H * D, 1));
  parallel_for(BT, grain, [&](int64_t b, int64_t e) {
    std::vector<float> c(static_cast<size_t>(h)), s(static_cast<size_t>(h));
    for (int64_t t = b; t < e; ++t) {
      float p = static_cast<float>(pos[t]);
      for (int64_t i = 0; i < h; ++i) {
        float f = inv_freq[i] * p;  // HF: inv_freq (f32) @ position (f32), then cos/sin in f32
        c[i] = std::cos(f) * af;
        s[i] = sign * (std::sin(f) * af);
      }
      rotate_heads(x + t * H * D, out + t * H * D, c.data(), s.data(), H, D, h);
    }
  });
  return env.Undefined();
}

LMF_MODULE(rope) { exports.Set("ropeApply", Napi::Function::New(env, RopeApply)); }

}  // namespace lmf
