// Causal attention over a paged KV cache (serving): keys and values live in fixed-size blocks of a shared pool and
// every sequence owns a block table, so sequences of any lengths decode in one call without padding or copies, and
// blocks holding a shared prompt prefix are read by several sequences at once. Inference only (no backward).
//
// Shapes (row-major):
//   q, out       [N, H, D]     N query tokens of a step, any mix of sequences (decode: 1 per sequence; chunked
//                              prefill: a run of consecutive positions of one sequence)
//   k_pool, v_pool [blocks, block_size, KVH, D]      one layer's pool
//   block_table  i32 [seqs, max_blocks]              block ids of each sequence's positions, in order
//   seq_of, pos_of i32 [N]                           a query's sequence and absolute position
// Query n sees keys at positions j <= pos_of[n] (the cache already holds them: the caller writes the step's keys
// first), and with a sliding window w > 0 only j > pos - w. Query head h reads KV head h / (H / KVH).
// Scores are attention.cc's: s = q . k * scale, then with soft-capping c > 0 (Gemma 2) s = c * tanh(s / c), then
// with ALiBi slopes [H] (Baichuan 2 13B) s += slope[h] * j, j the key's absolute position; so a family decodes the
// same through the paged cache as through the contiguous one.
//
// One task = one query token and one KV head: the query heads of its group share every key/value row read. Per
// block: scores s = q . k * scale for the block's visible keys, then the online softmax m' = max(m, max s),
// acc = acc * exp(m - m') + sum exp(s - m') v, l likewise; finally out = acc / l. Each output depends only on its
// own query and sequence, never on what else is in the step, so a request decodes the same alone or batched.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/cpu.h"
#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"
#include "core/vec.h"

namespace lmf {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int64_t kMaxGroup = 64;  // query heads per KV head at most (the TypeScript op checks)

struct PagedArgs {
  const float* q;
  const float* k_pool;
  const float* v_pool;
  float* out;
  const int32_t* table;
  const int32_t* seq_of;
  const int32_t* pos_of;
  const float* alibi;  // [H] ALiBi slopes, or null
  int64_t N, H, KVH, D, block_size, max_blocks, window;
  float scale;
  float softcap;  // 0 = none
};

// Dot product over D floats: whole vectors, then a scalar tail (odd head dims).
template <int W>
LMF_INLINE float dot(const float* a, const float* b, int64_t D) {
  using vf = typename Vec<W>::f;
  vf acc = {};
  int64_t d = 0;
  for (; d + W <= D; d += W) acc += vload<W>(a + d) * vload<W>(b + d);
  float s = hsum<W>(acc);
  for (; d < D; ++d) s += a[d] * b[d];
  return s;
}

// y = y * alpha + p * x over D floats.
template <int W>
LMF_INLINE void scale_add(float* y, float alpha, float p, const float* x, int64_t D) {
  int64_t d = 0;
  for (; d + W <= D; d += W) vstore<W>(y + d, vload<W>(y + d) * alpha + vload<W>(x + d) * p);
  for (; d < D; ++d) y[d] = y[d] * alpha + p * x[d];
}

template <int W>
LMF_INLINE void query_group(const PagedArgs& a, int64_t task, std::vector<float>& scratch) {
  const int64_t n = task / a.KVH, g = task % a.KVH, group = a.H / a.KVH, D = a.D, bs = a.block_size;
  const int64_t seq = a.seq_of[n], pos = a.pos_of[n];
  const int32_t* blocks = a.table + seq * a.max_blocks;
  const int64_t first = a.window > 0 ? std::max<int64_t>(0, pos - a.window + 1) : 0;
  scratch.resize(static_cast<size_t>(group * (D + bs)));
  float* acc = scratch.data();                 // [group, D]
  float* s = scratch.data() + group * D;       // [group, bs] scores of one block
  float m[kMaxGroup], l[kMaxGroup];
  std::fill(acc, acc + group * D, 0.f);
  std::fill(m, m + group, kNegInf);
  std::fill(l, l + group, 0.f);
  const int64_t row = a.KVH * D;  // floats per key position in the pool
  for (int64_t b0 = first / bs * bs; b0 <= pos; b0 += bs) {
    const int64_t j_begin = std::max(b0, first), j_end = std::min(b0 + bs, pos + 1);
    const int64_t nk = j_end - j_begin;
    const int64_t base = static_cast<int64_t>(blocks[b0 / bs]) * bs * row + g * D;
    const float* kb = a.k_pool + base + (j_begin - b0) * row;
    const float* vb = a.v_pool + base + (j_begin - b0) * row;
    for (int64_t hh = 0; hh < group; ++hh) {
      const float* qh = a.q + (n * a.H + g * group + hh) * D;
      float* sh = s + hh * bs;
      float mx = m[hh];
      for (int64_t c = 0; c < nk; ++c) sh[c] = dot<W>(qh, kb + c * row, D) * a.scale;
      if (a.softcap > 0.f) {
        const float cap = a.softcap, inv = 1.f / a.softcap;
        for (int64_t c = 0; c < nk; ++c) sh[c] = cap * std::tanh(sh[c] * inv);
      }
      if (a.alibi) {
        const float slope = a.alibi[g * group + hh];
        for (int64_t c = 0; c < nk; ++c) sh[c] += slope * static_cast<float>(j_begin + c);
      }
      for (int64_t c = 0; c < nk; ++c) mx = std::max(mx, sh[c]);
      const float alpha = std::exp(m[hh] - mx);  // 0 on the first block (m = -inf)
      float* ah = acc + hh * D;
      float sum = 0.f;
      for (int64_t c = 0; c < nk; ++c) {
        const float p = std::exp(sh[c] - mx);
        sum += p;
        scale_add<W>(ah, c == 0 ? alpha : 1.f, p, vb + c * row, D);
      }
      l[hh] = l[hh] * alpha + sum;
      m[hh] = mx;
    }
  }
  for (int64_t hh = 0; hh < group; ++hh) {
    float* o = a.out + (n * a.H + g * group + hh) * D;
    const float inv = l[hh] > 0.f ? 1.f / l[hh] : 0.f;
    for (int64_t d = 0; d < D; ++d) o[d] = acc[hh * D + d] * inv;
  }
}

LMF_TARGET_AVX512 void query_group_avx512(const PagedArgs& a, int64_t t, std::vector<float>& s) {
  query_group<16>(a, t, s);
}
LMF_TARGET_AVX2 void query_group_avx2(const PagedArgs& a, int64_t t, std::vector<float>& s) {
  query_group<8>(a, t, s);
}
void query_group_portable(const PagedArgs& a, int64_t t, std::vector<float>& s) { query_group<4>(a, t, s); }

// pagedAttention(q, kPool, vPool, out, blockTable, seqOf, posOf, N, H, KVH, D, blockSize, maxBlocks, scale,
//                slidingWindow (0 = none), softcap (0 = none), alibiSlopes f32 [H] | null)
Napi::Value PagedAttention(const Napi::CallbackInfo& info) {
  PagedArgs a{};
  a.q = arg_ptr<float>(info, 0);
  a.k_pool = arg_ptr<float>(info, 1);
  a.v_pool = arg_ptr<float>(info, 2);
  a.out = arg_ptr<float>(info, 3);
  a.table = arg_ptr<int32_t>(info, 4);
  a.seq_of = arg_ptr<int32_t>(info, 5);
  a.pos_of = arg_ptr<int32_t>(info, 6);
  a.N = arg_int(info, 7);
  a.H = arg_int(info, 8);
  a.KVH = arg_int(info, 9);
  a.D = arg_int(info, 10);
  a.block_size = arg_int(info, 11);
  a.max_blocks = arg_int(info, 12);
  a.scale = static_cast<float>(arg_double(info, 13));
  a.window = arg_int(info, 14);
  a.softcap = static_cast<float>(arg_double(info, 15));
  a.alibi = arg_opt_ptr<float>(info, 16);
  LMF_CHECK(info.Env(),
            a.N > 0 && a.H > 0 && a.KVH > 0 && a.D > 0 && a.H % a.KVH == 0 && a.H / a.KVH <= kMaxGroup &&
                a.block_size > 0 && a.max_blocks > 0 && a.window >= 0 && a.softcap >= 0.f,
            "pagedAttention: invalid dimensions (the TypeScript op validates them)");
  using Fn = void (*)(const PagedArgs&, int64_t, std::vector<float>&);
  const Isa i = isa();
  const Fn fn = i == Isa::avx512 ? query_group_avx512 : i == Isa::avx2 ? query_group_avx2 : query_group_portable;
  parallel_for(a.N * a.KVH, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> scratch;
    for (int64_t t = t0; t < t1; ++t) fn(a, t, scratch);
  });
  return info.Env().Undefined();
}

// pagedKvWrite(k, v, kPool, vPool, slots, N, rowFloats): row n of k, v [N, rowFloats] goes to pool row slots[n]
// (block * block_size + offset) of kPool, vPool [blocks * block_size, rowFloats].
Napi::Value PagedKvWrite(const Napi::CallbackInfo& info) {
  const float* k = arg_ptr<float>(info, 0);
  const float* v = arg_ptr<float>(info, 1);
  float* kp = arg_ptr<float>(info, 2);
  float* vp = arg_ptr<float>(info, 3);
  const int32_t* slots = arg_ptr<int32_t>(info, 4);
  const int64_t N = arg_int(info, 5), row = arg_int(info, 6);
  for (int64_t n = 0; n < N; ++n) {
    std::copy(k + n * row, k + (n + 1) * row, kp + static_cast<int64_t>(slots[n]) * row);
    std::copy(v + n * row, v + (n + 1) * row, vp + static_cast<int64_t>(slots[n]) * row);
  }
  return info.Env().Undefined();
}

}  // namespace

LMF_MODULE(paged_attention) {
  exports.Set("pagedAttention", Napi::Function::New(env, PagedAttention));
  exports.Set("pagedKvWrite", Napi::Function::New(env, PagedKvWrite));
}

}  // namespace lmf
