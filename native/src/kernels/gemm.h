// C++ entry point of the GEMM, for kernels that multiply matrices themselves (attention, LoRA) and for the N-API
// binding in gemm.cc. Row-major, batched:
//   for b in [0, batch): C_b[M,N] = alpha * op(A_b)[M,K] @ op(B_b)[K,N] + beta * C_b (+ bias[N] on item 0)
// op(X) = X or X^T by the trans flags; A_b = A + b * stride_a elements (stride 0 shares one operand across the
// batch). stride_c = 0 sums every item into one C (beta applies once, then items accumulate), which is how a
// weight shared across a batch gets its gradient. A and B may be stored f32, bf16 or f16: they are widened to f32
// while packing. C and bias are f32; accumulation is f32 in an order that does not depend on the thread count, so
// results are bitwise identical for any number of threads. With `bf16`, the operands are rounded to bf16 first
// (AVX512_BF16's VDPBF16PS where the CPU has it, else the f32 kernels on rounded panels).
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace lmf {

struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.f, beta = 0.f;
  const void* a = nullptr;
  DType a_dtype = DType::f32;
  int64_t lda = 0;  // row stride of A as stored: K (or M when trans_a) for a contiguous matrix
  const void* b = nullptr;
  DType b_dtype = DType::f32;
  int64_t ldb = 0;  // N (or K when trans_b) for a contiguous matrix
  float* c = nullptr;
  int64_t ldc = 0;  // N for a contiguous matrix
  const float* bias = nullptr;  // optional [N], added once to every row of C
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;
  // Mixed precision (bf16 compute): op(A) and op(B) rounded to bf16, products exact, f32 accumulation. Products
  // with a side of at most 16 (decoding, LoRA ranks) are memory-bound and stay f32 on the SIMD paths, except
  // decoding's x [M <= 8, K] @ W^T with W stored bf16 on AVX512_BF16, which takes vdpbf16ps (gemv16.h).
  bool bf16 = false;
};

void gemm(const GemmArgs& args);

// Whether bf16 GEMMs use the AVX512_BF16 instructions (CPU support, and LMFORGE_ISA not capped below avx512bf16).
bool gemm_bf16_instructions();

// Number of gemm() calls since the addon loaded (tests use it to prove that a frozen weight costs no GEMM).
int64_t gemm_call_count();

}  // namespace lmf
