// The decoding product of a 16-bit (bf16 or f16) weight stored as nn.Linear holds it, [N, K]:
//   y[i, j] = alpha * sum_k x[i, k] * W[j, k] + beta * y[i, j] (+ bias[j])   for i < m <= 8, j < n
// with every weight read from memory once for all m rows of x. Decoding is bound by the weight's bytes, so this
// streams 2 bytes per weight where an f32 copy streams 4. Two forms:
//   exact: W widened to f32 in registers (bf16 by a 16-bit shift, f16 by F16C's vcvtph2ps), f32 FMAs on f32 x;
//   bf16 dot (bf16 weights under bf16 compute, AVX512_BF16): x rounded to bf16 once, vdpbf16ps on W as stored,
//   the products of the bf16 GEMM (gemm.h's GemmArgs::bf16) with f32 sums.
// Each output is summed over K in an order fixed by the shape and the ISA, never by the thread count.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace lmf {

constexpr int64_t kGemv16MaxRows = 8;

struct Gemv16Args {
  int64_t m = 0, n = 0, k = 0;
  const float* x = nullptr;  // [m, K], row stride ldx
  int64_t ldx = 0;
  const uint16_t* w = nullptr;  // [N, K] bf16 or f16, row stride ldw
  DType w_dtype = DType::bf16;
  int64_t ldw = 0;
  float* y = nullptr;  // [m, N], row stride ldy
  int64_t ldy = 0;
  float alpha = 1.f, beta = 0.f;
  const float* bias = nullptr;  // optional [N]
  bool bf16 = false;            // bf16 compute: the bf16 dot form where the CPU has it (bf16 weights only)
  bool parallel = true;         // split N over the thread pool
};

// Runs the product; false (nothing written) when the arguments are outside its domain (m > 8, a dtype other than
// bf16/f16).
bool gemv16(const Gemv16Args& args);

}  // namespace lmf
