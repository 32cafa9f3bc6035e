// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a counter-based generator.
// The random words are a pure function of (key = seed, counter), so any element's random number can be computed
// independently: results do not depend on the thread count, and a backward pass regenerates a forward's dropout
// mask from (seed, offset) instead of storing it.
//
// Addressing used by every lmforge kernel: the stream of 32-bit words of a seed is indexed by a 64-bit word index w;
// word w is lane (w & 3) of block (w >> 2), the block index being the 128-bit counter {lo32, hi32, 0, 0}.
#pragma once
#include <cstdint>

namespace lmf {

struct PhiloxBlock {
  uint32_t w[4];
};

inline PhiloxBlock philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;  // round multipliers
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;  // key schedule increments
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kWeyl0;
      k1 += kWeyl1;
    }
    uint64_t p0 = static_cast<uint64_t>(kMul0) * c0;
    uint64_t p1 = static_cast<uint64_t>(kMul1) * c2;
    uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = static_cast<uint32_t>(p1);
    uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
  }
  return {{c0, c1, c2, c3}};
}

// Sequential reader of a seed's word stream that computes each block once (consecutive words share a block).
class PhiloxWords {
 public:
  explicit PhiloxWords(uint64_t seed)
      : k0_(static_cast<uint32_t>(seed)), k1_(static_cast<uint32_t>(seed >> 32)) {}

  uint32_t at(uint64_t word) {
    uint64_t block = word >> 2;
    if (block != block_ || !valid_) {
      buf_ = philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0, k0_, k1_);
      block_ = block;
      valid_ = true;
    }
    return buf_.w[word & 3];
  }

 private:
  uint32_t k0_, k1_;
  uint64_t block_ = 0;
  bool valid_ = false;
  PhiloxBlock buf_{};
};

// Calls fn(i, word) for i in [begin, end) with word = word (first + i) of seed's stream, one block per 4 words.
template <typename Fn>
inline void for_each_philox_word(uint64_t seed, uint64_t first, int64_t begin, int64_t end, Fn&& fn) {
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  int64_t i = begin;
  while (i < end) {
    uint64_t w = first + static_cast<uint64_t>(i);
    uint64_t block = w >> 2;
    PhiloxBlock r = philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0, k0, k1);
    for (uint32_t lane = static_cast<uint32_t>(w & 3); lane < 4 && i < end; ++lane, ++i) fn(i, r.w[lane]);
  }
}

// A word's top 24 bits as a float in [0, 1) (every value exactly representable in f32).
inline double unit_from_word(uint32_t w) { return static_cast<double>(w >> 8) * (1.0 / 16777216.0); }

// Counters and seeds travel from JavaScript as doubles holding integers below 2^53.
inline uint64_t u64_from_double(double v) { return static_cast<uint64_t>(v); }

}  // namespace lmf
