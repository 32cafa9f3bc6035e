// The prefill and input-gradient products of a frozen weight stored in blocks (bitsandbytes' NF4/FP4/int8 in
// quant.cc, ggml's blocks in ggml_dot.cc): W [N, K] is decoded to f32 a tile of rows at a time (about kTileBytes)
// and each tile goes through the blocked GEMM, so no full f32 copy of W exists. The tiles are visited in order, so
// every output is summed in an order fixed by the shape.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/gemm.h"

namespace lmf {

// A decoded tile holds about this many bytes of f32 rows (a multiple of 16 rows).
constexpr int64_t kTileBytes = 4 << 20;

inline int64_t tile_rows(int64_t rows, int64_t cols) {
  int64_t nt = kTileBytes / (4 * std::max<int64_t>(1, cols));
  nt = std::max<int64_t>(16, nt / 16 * 16);
  return std::min(nt, rows);
}

// y [m, N] = x [m, K] @ W^T (+ bias); decode(n0, nn, tile) writes rows [n0, n0 + nn) of W as f32 into tile.
template <class Decode>
void tiled_linear_forward(int64_t N, int64_t K, Decode&& decode, const float* x, int64_t m, const float* bias,
                          float* y, bool bf16) {
  const int64_t nt = tile_rows(N, K);
  std::vector<float> tile(static_cast<size_t>(nt * K));
  for (int64_t n0 = 0; n0 < N; n0 += nt) {
    const int64_t nn = std::min(nt, N - n0);
    decode(n0, nn, tile.data());
    GemmArgs g;
    g.trans_b = true;
    g.m = m, g.n = nn, g.k = K;
    g.a = x, g.lda = K;
    g.b = tile.data(), g.ldb = K;
    g.c = y + n0, g.ldc = N;
    g.bias = bias ? bias + n0 : nullptr;
    g.bf16 = bf16;
    gemm(g);
  }
}

// dx [m, K] = dy [m, N] @ W, summed over the row tiles in order.
template <class Decode>
void tiled_linear_backward_input(int64_t N, int64_t K, Decode&& decode, const float* dy, int64_t m, float* dx,
                                 bool bf16) {
  const int64_t nt = tile_rows(N, K);
  std::vector<float> tile(static_cast<size_t>(nt * K));
  for (int64_t n0 = 0; n0 < N; n0 += nt) {
    const int64_t nn = std::min(nt, N - n0);
    decode(n0, nn, tile.data());
    GemmArgs g;
    g.m = m, g.n = K, g.k = nn;
    g.a = dy + n0, g.lda = N;
    g.b = tile.data(), g.ldb = K;
    g.c = dx, g.ldc = K;
    g.beta = n0 == 0 ? 0.f : 1.f;
    g.bf16 = bf16;
    gemm(g);
  }
}

}  // namespace lmf
