// Fused linear + cross-entropy: the loss of logits = hidden @ weight^T without materialising [N, V] logits.
//
// Shapes: hidden [N, C] f32, weight [V, C] f32/bf16/f16 (widened while the GEMM packs it), labels [N] i32,
// rowCoef [N] f32 (optional), rowOut [N] f32 (optional), dHidden [N, C] f32 (optional), dWeight [V, C] f32 (optional).
//
// Only counted rows (label != ignoreIndex) are computed: they are gathered into chunks of R rows, and per chunk
//   logits [R, V] = h_chunk [R, C] @ weight^T                                   (GEMM)
//   lse_i = log sum_v exp(logits[i, v]);  loss_i = lse_i - logits[i, labels_i]  (row-parallel)
// and, when a gradient is asked for, in place over the same buffer
//   g[i, :] = coef_i * (softmax(logits[i]) - onehot(labels_i)),  coef_i = rowCoef[i] * coefScale (rowCoef optional)
//   dh_chunk [R, C] = g @ weight                                                  (GEMM, scattered to dHidden)
//   dWeight [V, C] += g^T @ h_chunk                                               (GEMM, accumulating)
// With bf16 (mixed precision, as torch.autocast runs the LM head) the three GEMMs take bf16-rounded operands with
// f32 accumulation (GemmArgs::bf16); the logits, the softmax, its gradient and the loss stay f32.
// Ignored rows get rowOut 0 and a zero dHidden row. The return value is the float64 sum of loss_i in row order.
// R depends on V alone, so the chunks, and with them every summation order, do not depend on the thread count.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#include "core/cpu.h"
#include "core/napi_util.h"
#include "core/registry.h"
#include "core/storage.h"
#include "core/threadpool.h"
#include "core/vec.h"
#include "kernels/gemm.h"
#include "kernels/softmax_row.h"

namespace lmf {
namespace {

// A chunk's logits [R, V] stay within 64 MB (R = 336 rows at a 49152-token vocabulary, 96 at Qwen's 152k), but R
// is at least 64. Each chunk's two GEMMs stream and pack the whole weight again (it does not fit in cache), a cost
// per chunk that does not shrink with R: at SmolLM2's [49152, 576] head the fused loss with its backward took ~35%
// more CPU time than the logits path at 80-row chunks, ~19% at 160 and ~9% at 336 (one thread). 64 MB keeps that
// near 1% of a 512-token LoRA step while a step holds 64 MB of logits instead of 2 x 100 MB (logits and their
// gradient). R is a multiple of 16 (whole GEMM row tiles), <= 1024.
constexpr int64_t kChunkLogitBytes = int64_t(64) << 20;
constexpr int64_t kMinChunkRows = 64;

int64_t chunk_rows(int64_t V) {
  const int64_t r = kChunkLogitBytes / (4 * V) / 16 * 16;
  return std::min<int64_t>(1024, std::max<int64_t>(kMinChunkRows, r));
}

// f32 scratch from the tensor block cache (core/storage.h), uninitialised (every element is written before it is
// read): the 64 MB logits chunk is taken every step, and a fresh allocation would page-fault all of it again.
struct Scratch {
  Storage* s;
  float* p = nullptr;
  explicit Scratch(size_t n) : s(storage_new(std::max<size_t>(n, 1) * 4, false)) {
    if (!s) throw std::bad_alloc();  // as operator new would
    p = static_cast<float*>(s->data);
  }
  ~Scratch() {
    storage_free(s);
    delete s;
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

struct RowsArgs {
  float* logits;           // [r, V], overwritten by the gradient when grad is set
  const int64_t* rows;     // [r] original row index of each chunk row
  const int32_t* labels;   // [N]
  const float* row_coef;   // [N] or null
  float coef_scale;
  bool grad;
  float* loss;             // [r]
  int64_t V;
};

template <int W>
LMF_INLINE void softmax_rows(const RowsArgs& a, int64_t j0, int64_t j1) {
  for (int64_t j = j0; j < j1; ++j) {
    float* x = a.logits + j * a.V;
    const int64_t i = a.rows[j];
    const int32_t y = a.labels[i];
    const float lse = row_logsumexp<W>(x, a.V);
    a.loss[j] = lse - x[y];
    if (!a.grad) continue;
    const float coef = (a.row_coef ? a.row_coef[i] : 1.f) * a.coef_scale;
    if (coef == 0.f)
      std::fill(x, x + a.V, 0.f);
    else
      row_grad<W>(x, lse, y, coef, x, a.V);
  }
}

LMF_TARGET_AVX512 void softmax_rows_avx512(const RowsArgs& a, int64_t j0, int64_t j1) { softmax_rows<16>(a, j0, j1); }
LMF_TARGET_AVX2 void softmax_rows_avx2(const RowsArgs& a, int64_t j0, int64_t j1) { softmax_rows<8>(a, j0, j1); }
void softmax_rows_portable(const RowsArgs& a, int64_t j0, int64_t j1) { softmax_rows<4>(a, j0, j1); }

struct LceArgs {
  const float* hidden;
  const void* weight;
  DType weight_dtype;
  const int32_t* labels;
  const float* row_coef;
  float coef_scale;
  float* row_out;
  float* dhidden;
  float* dweight;
  int64_t N, C, V;
  int32_t ignore;
  bool bf16;  // the GEMMs' operands rounded to bf16 (GemmArgs::bf16)
};

double linear_cross_entropy(const LceArgs& a) {
  const bool grad = a.dhidden || a.dweight;
  std::vector<int64_t> counted;
  for (int64_t i = 0; i < a.N; ++i)
    if (a.labels[i] != a.ignore) counted.push_back(i);
  if (a.row_out) std::fill(a.row_out, a.row_out + a.N, 0.f);
  if (a.dhidden) std::fill(a.dhidden, a.dhidden + a.N * a.C, 0.f);  // ignored rows keep 0
  if (a.dweight && counted.empty()) std::fill(a.dweight, a.dweight + a.V * a.C, 0.f);
  const int64_t count = static_cast<int64_t>(counted.size());
  const int64_t R = std::min(chunk_rows(a.V), std::max<int64_t>(count, 1));
  Scratch logits(static_cast<size_t>(R * a.V)), h(static_cast<size_t>(R * a.C)),
      dh(a.dhidden ? static_cast<size_t>(R * a.C) : 0), loss(static_cast<size_t>(R));
  const Isa isa_now = isa();
  const auto rows_fn = isa_now == Isa::avx512 ? softmax_rows_avx512
                       : isa_now == Isa::avx2 ? softmax_rows_avx2
                                              : softmax_rows_portable;
  const int64_t grain = std::max<int64_t>(1, (1 << 15) / a.V);  // >= ~32k logits per task
  double total = 0.0;
  for (int64_t s = 0; s < count; s += R) {
    const int64_t r = std::min(R, count - s);
    const int64_t* rows = counted.data() + s;
    for (int64_t j = 0; j < r; ++j)
      std::memcpy(h.p + j * a.C, a.hidden + rows[j] * a.C, static_cast<size_t>(a.C) * 4);

    GemmArgs fw;  // logits [r, V] = h [r, C] @ weight^T
    fw.trans_b = true;
    fw.m = r, fw.n = a.V, fw.k = a.C;
    fw.a = h.p, fw.lda = a.C;
    fw.b = a.weight, fw.b_dtype = a.weight_dtype, fw.ldb = a.C;
    fw.c = logits.p, fw.ldc = a.V;
    fw.bf16 = a.bf16;
    gemm(fw);

    RowsArgs ra{logits.p, rows, a.labels, a.row_coef, a.coef_scale, grad, loss.p, a.V};
    parallel_for(r, grain, [&](int64_t j0, int64_t j1) { rows_fn(ra, j0, j1); });
    for (int64_t j = 0; j < r; ++j) {
      total += static_cast<double>(loss.p[j]);
      if (a.row_out) a.row_out[rows[j]] = loss.p[j];
    }
    if (!grad) continue;

    if (a.dhidden) {
      GemmArgs bd;  // dh [r, C] = g [r, V] @ weight [V, C]
      bd.m = r, bd.n = a.C, bd.k = a.V;
      bd.a = logits.p, bd.lda = a.V;
      bd.b = a.weight, bd.b_dtype = a.weight_dtype, bd.ldb = a.C;
      bd.c = dh.p, bd.ldc = a.C;
      bd.bf16 = a.bf16;
      gemm(bd);
      for (int64_t j = 0; j < r; ++j)
        std::memcpy(a.dhidden + rows[j] * a.C, dh.p + j * a.C, static_cast<size_t>(a.C) * 4);
    }
    if (a.dweight) {
      GemmArgs bw;  // dWeight [V, C] (+)= g^T [V, r] @ h [r, C]; the first chunk overwrites
      bw.trans_a = true;
      bw.m = a.V, bw.n = a.C, bw.k = r;
      bw.a = logits.p, bw.lda = a.V;
      bw.b = h.p, bw.ldb = a.C;
      bw.c = a.dweight, bw.ldc = a.C;
      bw.beta = s == 0 ? 0.f : 1.f;
      bw.bf16 = a.bf16;
      gemm(bw);
    }
  }
  return total;
}

// linearCrossEntropy(hidden, weight, weightDtype, labels, rowCoef|null, coefScale, rowOut|null, dHidden|null,
//                    dWeight|null, N, C, V, ignoreIndex, bf16?) -> float64 sum of the counted rows' losses
Napi::Value LinearCrossEntropy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LMF_CHECK(env, info.Length() == 13 || info.Length() == 14,
            "linearCrossEntropy takes (hidden, weight, weightDtype, labels, rowCoef, coefScale, rowOut, dHidden, "
            "dWeight, N, C, V, ignoreIndex, bf16?)");
  LceArgs a{};
  a.hidden = arg_ptr<float>(info, 0);
  a.weight = arg_ptr<void>(info, 1);
  a.weight_dtype = static_cast<DType>(arg_int(info, 2));
  a.labels = arg_ptr<int32_t>(info, 3);
  a.row_coef = arg_opt_ptr<float>(info, 4);
  a.coef_scale = static_cast<float>(arg_double(info, 5));
  a.row_out = arg_opt_ptr<float>(info, 6);
  a.dhidden = arg_opt_ptr<float>(info, 7);
  a.dweight = arg_opt_ptr<float>(info, 8);
  a.N = arg_int(info, 9);
  a.C = arg_int(info, 10);
  a.V = arg_int(info, 11);
  a.ignore = static_cast<int32_t>(arg_int(info, 12));
  a.bf16 = info.Length() > 13 && arg_bool(info, 13);
  const DType d = a.weight_dtype;
  LMF_CHECK(env, d == DType::f32 || d == DType::bf16 || d == DType::f16,
            "linearCrossEntropy: weight must be f32, bf16 or f16");
  LMF_CHECK(env, a.N >= 0 && a.C > 0 && a.V > 0, "linearCrossEntropy: invalid dimensions");
  return Napi::Number::New(env, linear_cross_entropy(a));
}

Napi::Value LinearCrossEntropyChunkRows(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(chunk_rows(arg_int(info, 0))));
}

}  // namespace

LMF_MODULE(linear_cross_entropy) {
  exports.Set("linearCrossEntropy", Napi::Function::New(env, LinearCrossEntropy));
  // The rows per chunk at vocabulary size V: tests size their cases to cross chunk borders.
  exports.Set("linearCrossEntropyChunkRows", Napi::Function::New(env, LinearCrossEntropyChunkRows));
}

}  // namespace lmf
