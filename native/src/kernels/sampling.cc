// Next-token selection over logits [B, V], in Hugging Face's order of logits processors:
//   repetition penalty (over each row's history) -> temperature -> top-k -> top-p -> softmax -> draw with u[b].
// Greedy (do_sample false) applies the penalty, then takes the first arg-max.
// sample(logits [B,V] f32 (modified in place), B, V, history i32 [B, L] (-1 = none), L, penalty, doSample,
//        temperature, topK (0 = off), topP (1 = off), uniforms f32 [B] in [0,1), out i32 [B])
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {

static int32_t select_row(float* x, int64_t v, const int32_t* hist, int64_t hist_len, float penalty, bool do_sample,
                          float temperature, int64_t top_k, float top_p, float u) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (penalty != 1.f) {
    // HF gathers the scores of every token in the history and scatters the penalised values back: a repeated token
    // is penalised once.
    std::vector<int32_t> seen;
    for (int64_t i = 0; i < hist_len; ++i)
      if (hist[i] >= 0 && hist[i] < v) seen.push_back(hist[i]);
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t t : seen) x[t] = x[t] < 0 ? x[t] * penalty : x[t] / penalty;
  }
  if (!do_sample) return static_cast<int32_t>(std::max_element(x, x + v) - x);
  if (temperature != 1.f)
    for (int64_t i = 0; i < v; ++i) x[i] /= temperature;
  if (top_k > 0 && top_k < v) {
    std::vector<float> copy(x, x + v);
    std::nth_element(copy.begin(), copy.begin() + (top_k - 1), copy.end(), std::greater<float>());
    float kth = copy[top_k - 1];
    for (int64_t i = 0; i < v; ++i)
      if (x[i] < kth) x[i] = neg_inf;  // ties with the k-th value stay, as in HF's TopKLogitsWarper
  }
  // Candidates in descending order of logit.
  std::vector<int32_t> idx;
  idx.reserve(static_cast<size_t>(v));
  for (int64_t i = 0; i < v; ++i)
    if (x[i] != neg_inf) idx.push_back(static_cast<int32_t>(i));
  if (idx.empty()) return 0;
  std::stable_sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return x[a] > x[b]; });
  const float m = x[idx[0]];
  double total = 0;
  std::vector<double> p(idx.size());
  for (size_t i = 0; i < idx.size(); ++i) total += (p[i] = std::exp(static_cast<double>(x[idx[i]] - m)));
  size_t keep = idx.size();
  if (top_p < 1.f) {
    // HF removes the least likely tokens whose cumulative mass (ascending) is <= 1 - top_p; equivalently a token
    // stays while the mass ranked strictly above it is < top_p. At least one token always stays.
    double above = 0;
    size_t n = 0;
    while (n < idx.size() && above / total < top_p) above += p[n++];
    keep = std::max<size_t>(1, n);
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += p[i];
  double target = static_cast<double>(u) * kept, acc = 0;
  for (size_t i = 0; i < keep; ++i) {
    acc += p[i];
    if (target < acc) return idx[i];
  }
  return idx[keep - 1];
}

static Napi::Value Sample(const Napi::CallbackInfo& info) {
  float* logits = arg_ptr<float>(info, 0);
  int64_t b = arg_int(info, 1), v = arg_int(info, 2);
  const int32_t* hist = arg_opt_ptr<int32_t>(info, 3);
  int64_t hist_len = arg_int(info, 4);
  float penalty = static_cast<float>(arg_double(info, 5));
  bool do_sample = arg_bool(info, 6);
  float temperature = static_cast<float>(arg_double(info, 7));
  int64_t top_k = arg_int(info, 8);
  float top_p = static_cast<float>(arg_double(info, 9));
  const float* uniforms = arg_ptr<float>(info, 10);
  int32_t* out = arg_ptr<int32_t>(info, 11);
  parallel_for(b, 1, [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r)
      out[r] = select_row(logits + r * v, v, hist ? hist + r * hist_len : nullptr, hist ? hist_len : 0, penalty,
                          do_sample, temperature, top_k, top_p, uniforms[r]);
  });
  return info.Env().Undefined();
}

LMF_MODULE(sampling) { exports.Set("sample", Napi::Function::New(env, Sample)); }

}  // namespace lmf
