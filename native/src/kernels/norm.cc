// RMSNorm as HF's LlamaRMSNorm computes it in f32 (also Qwen3's per-head q/k norm: rows are then heads).
//   x [N, C] (N = every leading dim), w [C], y [N, C], rstd [N] (saved by the forward for the backward)
//   forward:  rstd[n] = 1 / sqrt(sum_c x[n,c]^2 / C + eps);   y[n,c] = w[c] * (x[n,c] * rstd[n])
//   backward: with gw[c] = g[n,c] * w[c] and m[n] = sum_c gw[c] * x[n,c] / C:
//             dx[n,c] = rstd[n] * gw[c] - x[n,c] * rstd[n]^3 * m[n]
//             dw[c]   = sum_n g[n,c] * x[n,c] * rstd[n]
// dw is summed per fixed block of kRowsPerBlock rows, then the block sums are added in block order, so the result
// does not depend on how many threads ran the blocks.
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

constexpr int kLanes = 16;          // independent partial sums: vectorizable without reassociating the loop
constexpr int64_t kRowsPerBlock = 32;

// sum_c a[c] * b[c] over kLanes interleaved partial sums (fixed order whatever the ISA).
static LMF_INLINE float dot_lanes(const float* a, const float* b, int64_t n) {
  float acc[kLanes] = {};
  int64_t c = 0;
  for (; c + kLanes <= n; c += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += a[c + k] * b[c + k];
  float s = 0.f;
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  for (; c < n; ++c) s += a[c] * b[c];
  return s;
}

static LMF_INLINE void rms_forward_body(const float* x, const float* w, float* y, float* rstd, int64_t rows,
                                        int64_t C, float eps) {
  for (int64_t n = 0; n < rows; ++n) {
    const float* xr = x + n * C;
    float* yr = y + n * C;
    float r = 1.f / std::sqrt(dot_lanes(xr, xr, C) / static_cast<float>(C) + eps);
    rstd[n] = r;
    for (int64_t c = 0; c < C; ++c) yr[c] = w[c] * (xr[c] * r);
  }
}
LMF_DISPATCH(rms_forward_rows, rms_forward_body,
             (const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t C, float eps),
             (x, w, y, rstd, rows, C, eps))

// One block of rows: dx (when wanted) and this block's dw partial sums (when wanted; dwp starts zeroed).
static LMF_INLINE void rms_backward_body(const float* x, const float* w, const float* rstd, const float* g, float* dx,
                                         float* dwp, float* gw, int64_t rows, int64_t C) {
  for (int64_t n = 0; n < rows; ++n) {
    const float* xr = x + n * C;
    const float* gr = g + n * C;
    float r = rstd[n];
    if (dx) {
      for (int64_t c = 0; c < C; ++c) gw[c] = gr[c] * w[c];
      float k = r * r * r * (dot_lanes(gw, xr, C) / static_cast<float>(C));
      float* dxr = dx + n * C;
      for (int64_t c = 0; c < C; ++c) dxr[c] = r * gw[c] - k * xr[c];
    }
    if (dwp)
      for (int64_t c = 0; c < C; ++c) dwp[c] += gr[c] * (xr[c] * r);
  }
}
LMF_DISPATCH(rms_backward_rows, rms_backward_body,
             (const float* x, const float* w, const float* rstd, const float* g, float* dx, float* dwp, float* gw,
              int64_t rows, int64_t C),
             (x, w, rstd, g, dx, dwp, gw, rows, C))

// rmsNormForward(x, w, y, rstd, N, C, eps)
static Napi::Value RmsNormForward(const Napi::CallbackInfo& info) {
  const float* x = arg_ptr<float>(info, 0);
  const float* w = arg_ptr<float>(info, 1);
  float* y = arg_ptr<float>(info, 2);
  float* rstd = arg_ptr<float>(info, 3);
  int64_t N = arg_int(info, 4), C = arg_int(info, 5);
  float eps = static_cast<float>(arg_double(info, 6));
  int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(C, 1));
  parallel_for(N, grain, [&](int64_t b, int64_t e) {
    rms_forward_rows(x + b * C, w, y + b * C, rstd + b, e - b, C, eps);
  });
  return info.Env().Undefined();
}

// rmsNormBackward(x, w, rstd, g, dx | null, dw | null, N, C): dx and dw are overwritten.
static Napi::Value RmsNormBackward(const Napi::CallbackInfo& info) {
  const float* x = arg_ptr<float>(info, 0);
  const float* w = arg_ptr<float>(info, 1);
  const float* rstd = arg_ptr<float>(info, 2);
  const float* g = arg_ptr<float>(info, 3);
  float* dx = arg_opt_ptr<float>(info, 4);
  float* dw = arg_opt_ptr<float>(info, 5);
  int64_t N = arg_int(info, 6), C = arg_int(info, 7);
  int64_t blocks = (N + kRowsPerBlock - 1) / kRowsPerBlock;
  std::vector<float> partial(dw ? static_cast<size_t>(blocks * C) : 0, 0.f);
  int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(C * kRowsPerBlock, 1));
  parallel_for(blocks, grain, [&](int64_t b, int64_t e) {
    std::vector<float> gw(static_cast<size_t>(C));
    for (int64_t blk = b; blk < e; ++blk) {
      int64_t r0 = blk * kRowsPerBlock;
      int64_t rows = std::min(kRowsPerBlock, N - r0);
      rms_backward_rows(x + r0 * C, w, rstd + r0, g + r0 * C, dx ? dx + r0 * C : nullptr,
                        dw ? partial.data() + blk * C : nullptr, gw.data(), rows, C);
    }
  });
  if (dw) {
    parallel_for(C, 1024, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) dw[c] = 0.f;
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const float* p = partial.data() + blk * C;
        for (int64_t c = b; c < e; ++c) dw[c] += p[c];
      }
    });
  }
  return info.Env().Undefined();
}

LMF_MODULE(norm) {
  exports.Set("rmsNormForward", Napi::Function::New(env, RmsNormForward));
  exports.Set("rmsNormBackward", Napi::Function::New(env, RmsNormBackward));
}

}  // namespace lmf
