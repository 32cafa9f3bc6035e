// A 64-byte-aligned float buffer grown on demand and kept for its owner's lifetime: the GEMM's per-thread packing
// space (pool threads persist, so each packs into memory it already has).
#pragma once
#include <cstddef>
#include <cstdlib>

namespace lmf {

struct PackBuffer {
  float* data = nullptr;
  size_t floats = 0;
  ~PackBuffer() { std::free(data); }
  float* get(size_t n) {
    if (n > floats) {
      std::free(data);
      data = static_cast<float*>(std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64));
      floats = n;
    }
    return data;
  }
};

}  // namespace lmf
