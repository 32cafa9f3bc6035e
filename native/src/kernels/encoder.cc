// Forward-only kernels of the BERT-family sentence encoders and rerankers (src/kb/encoders): the encoders run frozen,
// so nothing here has a backward. Each row's statistics are summed in double and rounded once.
//   layerNorm:     x [N, C], w [C], b [C] -> y [N, C]: y = (x - mean) / sqrt(var + eps) * w + b (biased variance)
//   geluErf:       y = 0.5 x (1 + erf(x / sqrt 2))  (HF "gelu", BERT's hidden_act; not the tanh approximation)
//   maskedMeanPool x [B, T, C], mask [B, T] i32 -> out [B, C]: the mean over the tokens whose mask is 1
//                  (sentence-transformers' mean pooling); a row with no token gives zeros
//   l2NormalizeRows x [N, C] -> y [N, C]: x / max(||x||, 1e-12) (torch.nn.functional.normalize)
#include <cmath>
#include <cstdint>

#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {

constexpr int64_t kGrain = 1 << 14;

// layerNormForward(x, w, b, y, N, C, eps)
static Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  const float* x = arg_ptr<float>(info, 0);
  const float* w = arg_ptr<float>(info, 1);
  const float* b = arg_ptr<float>(info, 2);
  float* y = arg_ptr<float>(info, 3);
  const int64_t N = arg_int(info, 4), C = arg_int(info, 5);
  const double eps = arg_double(info, 6);
  parallel_for(N, 1, [&](int64_t s, int64_t e) {
    for (int64_t n = s; n < e; ++n) {
      const float* xr = x + n * C;
      float* yr = y + n * C;
      double sum = 0;
      for (int64_t c = 0; c < C; ++c) sum += xr[c];
      const double mean = sum / static_cast<double>(C);
      double sq = 0;
      for (int64_t c = 0; c < C; ++c) {
        const double d = xr[c] - mean;
        sq += d * d;
      }
      const double rstd = 1.0 / std::sqrt(sq / static_cast<double>(C) + eps);
      for (int64_t c = 0; c < C; ++c) yr[c] = static_cast<float>((xr[c] - mean) * rstd * w[c] + b[c]);
    }
  });
  return info.Env().Undefined();
}

// encoderPointwise(code, x, y, n): code 0 geluErf (tanh, with its backward, is the engine's pointwise op)
static Napi::Value EncoderPointwise(const Napi::CallbackInfo& info) {
  const int code = static_cast<int>(arg_int(info, 0));
  LMF_CHECK(info.Env(), code == 0, "encoderPointwise: unknown function code");
  const float* x = arg_ptr<float>(info, 1);
  float* y = arg_ptr<float>(info, 2);
  const int64_t n = arg_int(info, 3);
  parallel_for(n, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const double v = x[i];
      y[i] = static_cast<float>(0.5 * v * (1.0 + std::erf(v * M_SQRT1_2)));
    }
  });
  return info.Env().Undefined();
}

// maskedMeanPool(x, mask, out, B, T, C)
static Napi::Value MaskedMeanPool(const Napi::CallbackInfo& info) {
  const float* x = arg_ptr<float>(info, 0);
  const int32_t* mask = arg_ptr<int32_t>(info, 1);
  float* out = arg_ptr<float>(info, 2);
  const int64_t B = arg_int(info, 3), T = arg_int(info, 4), C = arg_int(info, 5);
  parallel_for(B, 1, [&](int64_t s, int64_t e) {
    for (int64_t bi = s; bi < e; ++bi) {
      int64_t count = 0;
      for (int64_t t = 0; t < T; ++t) count += mask[bi * T + t] != 0;
      for (int64_t c = 0; c < C; ++c) {
        double sum = 0;
        for (int64_t t = 0; t < T; ++t)
          if (mask[bi * T + t] != 0) sum += x[(bi * T + t) * C + c];
        out[bi * C + c] = count ? static_cast<float>(sum / static_cast<double>(count)) : 0.f;
      }
    }
  });
  return info.Env().Undefined();
}

// l2NormalizeRows(x, y, N, C)
static Napi::Value L2NormalizeRows(const Napi::CallbackInfo& info) {
  const float* x = arg_ptr<float>(info, 0);
  float* y = arg_ptr<float>(info, 1);
  const int64_t N = arg_int(info, 2), C = arg_int(info, 3);
  parallel_for(N, 1, [&](int64_t s, int64_t e) {
    for (int64_t n = s; n < e; ++n) {
      double sq = 0;
      for (int64_t c = 0; c < C; ++c) sq += static_cast<double>(x[n * C + c]) * x[n * C + c];
      const double scale = 1.0 / std::fmax(std::sqrt(sq), 1e-12);
      for (int64_t c = 0; c < C; ++c) y[n * C + c] = static_cast<float>(x[n * C + c] * scale);
    }
  });
  return info.Env().Undefined();
}

LMF_MODULE(encoder) {
  exports.Set("layerNormForward", Napi::Function::New(env, LayerNormForward));
  exports.Set("encoderPointwise", Napi::Function::New(env, EncoderPointwise));
  exports.Set("maskedMeanPool", Napi::Function::New(env, MaskedMeanPool));
  exports.Set("l2NormalizeRows", Napi::Function::New(env, L2NormalizeRows));
}

}  // namespace lmf
