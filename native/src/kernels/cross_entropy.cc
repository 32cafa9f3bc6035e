// Cross-entropy over a vocabulary, forward and backward side by side, row-parallel and vectorized.
//
// Shapes: logits [N, V] f32, labels [N] i32 (ignoreIndex rows are skipped), lse [N] (saved), rowOut [N].
// Forward, per row i:  lse_i = log sum_v exp(logits[i, v]);  rowOut_i = sign * (lse_i - logits[i, labels_i]),
//   0 for an ignored row. sign = 1 gives the per-row loss, -1 the label's log-probability. Returns the float64 sum
//   of rowOut in row order, so the total does not depend on the thread count.
// Backward, per row i:  dlogits[i, :] = coef_i * (softmax(logits[i]) - onehot(labels_i)), with softmax rebuilt
//   from the saved lse (no second [N, V] buffer), coef_i = rowCoef[i] * coefScale (rowCoef optional), and 0 for an
//   ignored row. Mean loss: coefScale = g / count; sum: g; per-row ops: rowCoef = upstream gradient.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/cpu.h"
#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"
#include "core/vec.h"
#include "kernels/softmax_row.h"

namespace lmf {
namespace {

struct CeArgs {
  const float* logits;
  const int32_t* labels;
  float* lse;
  float* row_out;
  const float* row_coef;
  float coef_scale;
  float sign;
  float* dlogits;
  int64_t N, V;
  int32_t ignore;
};

template <int W>
LMF_INLINE void forward_rows(const CeArgs& a, int64_t r0, int64_t r1) {
  for (int64_t i = r0; i < r1; ++i) {
    const float* x = a.logits + i * a.V;
    const float l = row_logsumexp<W>(x, a.V);
    a.lse[i] = l;
    const int32_t y = a.labels[i];
    a.row_out[i] = y == a.ignore ? 0.f : a.sign * (l - x[y]);
  }
}

template <int W>
LMF_INLINE void backward_rows(const CeArgs& a, int64_t r0, int64_t r1) {
  for (int64_t i = r0; i < r1; ++i) {
    float* d = a.dlogits + i * a.V;
    const int32_t y = a.labels[i];
    const float coef = (a.row_coef ? a.row_coef[i] : 1.f) * a.coef_scale;
    if (y == a.ignore || coef == 0.f) {
      std::fill(d, d + a.V, 0.f);
      continue;
    }
    row_grad<W>(a.logits + i * a.V, a.lse[i], y, coef, d, a.V);
  }
}

LMF_TARGET_AVX512 void forward_avx512(const CeArgs& a, int64_t r0, int64_t r1) { forward_rows<16>(a, r0, r1); }
LMF_TARGET_AVX2 void forward_avx2(const CeArgs& a, int64_t r0, int64_t r1) { forward_rows<8>(a, r0, r1); }
void forward_portable(const CeArgs& a, int64_t r0, int64_t r1) { forward_rows<4>(a, r0, r1); }
LMF_TARGET_AVX512 void backward_avx512(const CeArgs& a, int64_t r0, int64_t r1) { backward_rows<16>(a, r0, r1); }
LMF_TARGET_AVX2 void backward_avx2(const CeArgs& a, int64_t r0, int64_t r1) { backward_rows<8>(a, r0, r1); }
void backward_portable(const CeArgs& a, int64_t r0, int64_t r1) { backward_rows<4>(a, r0, r1); }

using RowsFn = void (*)(const CeArgs&, int64_t, int64_t);

void run_rows(const CeArgs& a, RowsFn fn) {
  const int64_t grain = std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, a.V));  // >= ~32k logits per chunk
  parallel_for(a.N, grain, [&](int64_t r0, int64_t r1) { fn(a, r0, r1); });
}

// crossEntropyForward(logits, labels, lse, rowOut, N, V, ignoreIndex, sign) -> float64 sum of rowOut
Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  CeArgs a{};
  a.logits = arg_ptr<float>(info, 0);
  a.labels = arg_ptr<int32_t>(info, 1);
  a.lse = arg_ptr<float>(info, 2);
  a.row_out = arg_ptr<float>(info, 3);
  a.N = arg_int(info, 4);
  a.V = arg_int(info, 5);
  a.ignore = static_cast<int32_t>(arg_int(info, 6));
  a.sign = static_cast<float>(arg_double(info, 7));
  LMF_CHECK(info.Env(), a.N >= 0 && a.V > 0, "crossEntropyForward: invalid dimensions");
  Isa i = isa();
  run_rows(a, i == Isa::avx512 ? forward_avx512 : i == Isa::avx2 ? forward_avx2 : forward_portable);
  double total = 0.0;
  for (int64_t r = 0; r < a.N; ++r) total += static_cast<double>(a.row_out[r]);
  return Napi::Number::New(info.Env(), total);
}

// crossEntropyBackward(logits, labels, lse, rowCoef|null, coefScale, dlogits, N, V, ignoreIndex)
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  CeArgs a{};
  a.logits = arg_ptr<float>(info, 0);
  a.labels = arg_ptr<int32_t>(info, 1);
  a.lse = arg_ptr<float>(info, 2);
  a.row_coef = arg_opt_ptr<float>(info, 3);
  a.coef_scale = static_cast<float>(arg_double(info, 4));
  a.dlogits = arg_ptr<float>(info, 5);
  a.N = arg_int(info, 6);
  a.V = arg_int(info, 7);
  a.ignore = static_cast<int32_t>(arg_int(info, 8));
  LMF_CHECK(info.Env(), a.N >= 0 && a.V > 0, "crossEntropyBackward: invalid dimensions");
  Isa i = isa();
  run_rows(a, i == Isa::avx512 ? backward_avx512 : i == Isa::avx2 ? backward_avx2 : backward_portable);
  return info.Env().Undefined();
}

}  // namespace

LMF_MODULE(cross_entropy) {
  exports.Set("crossEntropyForward", Napi::Function::New(env, CrossEntropyForward));
  exports.Set("crossEntropyBackward", Napi::Function::New(env, CrossEntropyBackward));
}

}  // namespace lmf
