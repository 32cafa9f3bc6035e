// A frozen weight stored as bitsandbytes stores it (see quant.cc for the formats), shared by the quantized products.
#pragma once
#include <cstdint>

namespace lmf {

enum QType : int { kNf4 = 0, kFp4 = 1, kInt8 = 2 };

struct QMatrix {
  int type = kNf4;
  int64_t rows = 0, cols = 0, blocksize = 64;
  const uint8_t* data = nullptr;
  const float* code = nullptr;          // 16 values (4-bit types)
  const float* absmax = nullptr;        // f32 per block, when not double-quantized
  const uint8_t* qabsmax = nullptr;     // 8-bit per block, when double-quantized
  const float* nested_absmax = nullptr;
  const float* nested_code = nullptr;   // 256 values
  float offset = 0.f;
  int64_t nested_blocksize = 256;
  const float* scb = nullptr;           // int8: [rows]
};

// The scale of 4-bit block b (its absmax, decoded from the nested 8-bit code when double-quantized).
inline float block_scale(const QMatrix& q, int64_t b) {
  if (q.qabsmax) return q.nested_code[q.qabsmax[b]] * q.nested_absmax[b / q.nested_blocksize] + q.offset;
  return q.absmax[b];
}

// y [m, rows] = x [m, cols] @ W^T (+ bias) for a few rows of x (decoding), streaming W's quantized bytes once: each
// block is decoded in registers (4-bit: its 16 code values scaled once per block, then a lane permute per 16
// weights; int8: widened and scaled per row) and multiplied into all m rows. Returns false (nothing written) where
// the layout has no fused path: m > kQgemvMaxRows, or 4-bit blocks that straddle rows (cols % blocksize != 0) or
// are not a multiple of 16 values.
constexpr int64_t kQgemvMaxRows = 8;
bool qgemv(const QMatrix& q, const float* x, int64_t m, const float* bias, float* y, bool bf16);

}  // namespace lmf
