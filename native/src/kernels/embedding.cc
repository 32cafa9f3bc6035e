// Embedding lookup and its scatter-add backward.
//   weight [V, C] (f32 | bf16 | f16, widened to f32 as rows are copied), ids i32 [N], out f32 [N, C]
//   forward:  out[n, :] = weight[ids[n], :]
//   backward: dW[v, :] = sum over n with ids[n] == v of g[n, :]   (dW f32 [V, C], overwritten)
//             except dW[padding_idx, :] = 0 (PyTorch's nn.Embedding(padding_idx): that row is never trained)
// The backward groups the tokens by id with a stable counting sort, then threads own whole vocabulary rows: no two
// threads write the same row and each row adds its tokens in token order, so dW does not depend on the thread count.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {

// Index of the first id outside [0, V), or -1.
static int64_t first_bad_id(const int32_t* ids, int64_t N, int64_t V) {
  for (int64_t n = 0; n < N; ++n)
    if (ids[n] < 0 || ids[n] >= V) return n;
  return -1;
}

// embeddingForward(weight, dtype, ids, out, N, V, C)
static Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const void* weight = arg_ptr<void>(info, 0);
  DType dt = static_cast<DType>(arg_int(info, 1));
  const int32_t* ids = arg_ptr<int32_t>(info, 2);
  float* out = arg_ptr<float>(info, 3);
  int64_t N = arg_int(info, 4), V = arg_int(info, 5), C = arg_int(info, 6);
  int64_t bad = first_bad_id(ids, N, V);
  LMF_CHECK(env, bad < 0,
            "embedding: token id " + std::to_string(bad < 0 ? 0 : ids[bad]) + " at flat position " +
                std::to_string(bad) + " is out of range for a vocabulary of " + std::to_string(V) +
                " rows (valid ids are 0.." + std::to_string(V - 1) +
                "); the tokenizer and the model's embed_tokens disagree, or padding used an invalid id");
  int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(C, 1));
  parallel_for(N, grain, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      int64_t row = ids[n];
      float* o = out + n * C;
      if (dt == DType::f32) {
        const float* w = static_cast<const float*>(weight) + row * C;
        std::copy(w, w + C, o);
      } else if (dt == DType::bf16) {
        const uint16_t* w = static_cast<const uint16_t*>(weight) + row * C;
        for (int64_t c = 0; c < C; ++c) o[c] = bf16_to_f32(w[c]);
      } else {
        const uint16_t* w = static_cast<const uint16_t*>(weight) + row * C;
        for (int64_t c = 0; c < C; ++c) o[c] = f16_to_f32(w[c]);
      }
    }
  });
  return env.Undefined();
}

// embeddingBackward(g, ids, dW, N, V, C, paddingIdx): ids were validated by the forward; paddingIdx < 0 = none.
static Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  const float* g = arg_ptr<float>(info, 0);
  const int32_t* ids = arg_ptr<int32_t>(info, 1);
  float* dW = arg_ptr<float>(info, 2);
  int64_t N = arg_int(info, 3), V = arg_int(info, 4), C = arg_int(info, 5);
  int64_t padding_idx = arg_int(info, 6);
  // start[v] .. start[v + 1] index the tokens of row v in `order`, in token order (stable counting sort)
  std::vector<int64_t> start(static_cast<size_t>(V + 1), 0);
  for (int64_t n = 0; n < N; ++n) ++start[static_cast<size_t>(ids[n]) + 1];
  for (int64_t v = 0; v < V; ++v) start[v + 1] += start[v];
  std::vector<int64_t> order(static_cast<size_t>(N));
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t n = 0; n < N; ++n) order[fill[ids[n]]++] = n;
  }
  int64_t grain = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(C, 1));
  parallel_for(V, grain, [&](int64_t b, int64_t e) {
    for (int64_t v = b; v < e; ++v) {
      float* d = dW + v * C;
      std::fill(d, d + C, 0.f);
      if (v == padding_idx) continue;
      for (int64_t k = start[v]; k < start[v + 1]; ++k) {
        const float* gr = g + order[k] * C;
        for (int64_t c = 0; c < C; ++c) d[c] += gr[c];
      }
    }
  });
  return info.Env().Undefined();
}

LMF_MODULE(embedding) {
  exports.Set("embeddingForward", Napi::Function::New(env, EmbeddingForward));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward));
}

}  // namespace lmf
