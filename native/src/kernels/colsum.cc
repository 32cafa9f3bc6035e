// Column sums of a row-major matrix: out[C] = sum over rows of src[R, C]. This is the bias gradient of a linear
// layer (db = sum of g over its flattened leading dims). Threads split the columns, and every column is summed in
// row order, so the result does not depend on the thread count.
#include <algorithm>
#include <cstdint>

#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {

// colsum(src, out, rows, cols): out[j] = sum_i src[i * cols + j] (f32 storages).
static Napi::Value Colsum(const Napi::CallbackInfo& info) {
  const float* src = arg_ptr<float>(info, 0);
  float* out = arg_ptr<float>(info, 1);
  int64_t rows = arg_int(info, 2), cols = arg_int(info, 3);
  // A chunk of 256 columns: the running sums stay in L1 while the rows stream past.
  parallel_for(cols, std::max<int64_t>(256, (int64_t(1) << 16) / std::max<int64_t>(1, rows)),
               [&](int64_t j0, int64_t j1) {
                 for (int64_t j = j0; j < j1; ++j) out[j] = 0.f;
                 for (int64_t i = 0; i < rows; ++i) {
                   const float* row = src + i * cols;
                   for (int64_t j = j0; j < j1; ++j) out[j] += row[j];
                 }
               });
  return info.Env().Undefined();
}

LMF_MODULE(colsum) { exports.Set("colsum", Napi::Function::New(env, Colsum)); }

}  // namespace lmf
