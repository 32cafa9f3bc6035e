// Fused causal self-attention with grouped-query heads, key padding masks, packed-sequence segments and a query
// offset (KV-cache decoding), forward and backward side by side, FlashAttention-2 style: scores are produced and
// consumed tile by tile, so memory never grows with T * S; the forward saves only the logsumexp of every row.
//
// Shapes (row-major, the layout a linear projection reshaped gives, no transposes):
//   q, out, dout, dq  [B, T, H, D]        k, v, dk, dv  [B, S, KVH, D]        lse  [B, H, T]
//   keyMask  i32 [B, S] (optional: 0 = padding, masked for every query)
//   segIds   i32 [B, T] (optional, T == S: query t sees key j only when segIds[t] == segIds[j])
// Query head h reads KV head h / (H / KVH). Query t sits at absolute position i = off + t among the keys; causal
// masking keeps key j when j <= i. A sliding window w > 0 (causal only) also drops keys with i - j >= w: each query
// sees at most w keys, itself included (HF's `kv_idx > q_idx - sliding_window`, Mistral / Qwen2). Key tiles wholly
// before every window of a query tile are skipped in the forward and the backward, so the cost is O(T * w), not
// O(T * S).
//
// Forward, per (b, h, tile of kFwdRows queries), for each tile of kCols keys:
//   s = (q . k) * scale, masked -> -inf;  m' = max(m, rowmax s);  p = exp(s - m');
//   l = l * exp(m - m') + rowsum p;  acc = acc * exp(m - m') + p @ v;  finally out = acc / l, lse = m + log l.
// Backward, per (b, h, chunk of key tiles): for each key tile, for each query tile that can see it:
//   p = exp(s - lse);  dv += p^T @ dout;  dp = dout @ v^T;  ds = p * (dp - rowsum(dout * out)) * scale;
//   dq += ds @ k;  dk += ds^T @ q.
// Soft-capping (Gemma 2's attn_logit_softcapping, c > 0) replaces the scaled score by c * tanh(s / c) before the
// masks; its backward multiplies ds by the tanh's derivative 1 - (s_capped / c)^2, recomputed with the scores.
// ALiBi (Baichuan 2 13B, slopes f32 [H], optional) adds slope[h] * j to the score of key j (its absolute index: a
// per-row constant apart from HF's slope * (j - i), which the softmax ignores); a constant bias, so no backward term.
// dq of the key chunks, and dk / dv of the query heads sharing a KV head, are summed afterwards in a fixed order,
// so every result is independent of the thread count. A row whose keys are all masked (e.g. a left-padded query) has out = 0, lse = -inf and zero
// gradients: no NaN.
// bf16 compute (mixed precision, as autocast runs attention's matmuls): q, k, v, dout and the p / ds tiles are
// rounded to bf16 before every product, sums stay f32, and so do the scores, the softmax, lse, rowsum(dout * out)
// and ds itself (computed from the f32 p). With AVX512_BF16 the products run on VDPBF16PS over pair-packed copies
// (kernels/attention_bf16.h); elsewhere the f32 kernels multiply the rounded values, which gives the same exact
// products summed in another order.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <vector>

#include "core/cpu.h"
#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"
#include "core/vec.h"
#include "kernels/attention_bf16.h"

namespace lmf {
namespace {

constexpr int64_t kFwdRows = 32;  // queries per forward tile
constexpr int64_t kBwdRows = 64;  // queries per backward tile
constexpr int64_t kCols = 64;    // keys per tile: a 64x64 f32 score tile is 16 KiB, the working set stays in L1/L2
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct AttnArgs {
  const float* q;
  const float* k;
  const float* v;
  float* out;
  float* lse;
  const float* dout;
  float* dq;
  float* dk;
  float* dv;
  float* dkv_heads;  // backward scratch [2][B, H, S, D] when H != KVH: per-query-head dk, dv before the group sum
  // K and V packed once per call for every (b, KV head), shared by the query heads of the group (see pack_kv):
  const float* k_tiles;  // [B, KVH, key tiles, Dp, kCols]: each tile of keys transposed, zero-padded
  const float* v_tiles;  // same for v (backward only)
  const float* k_rows;   // [B, KVH, S, Dp]: rows zero-padded to Dp (backward only)
  const float* v_rows;   // same for v (forward only)
  int64_t Dp;            // D rounded up to 16 floats: a whole number of vectors on every ISA
  int64_t key_tiles;
  // The backward splits each head's keys into key_chunks ranges of tiles_per_chunk tiles (more tasks when B * H is
  // small); chunk c accumulates its dq into its own copy, summed in chunk order at the end.
  int64_t key_chunks, tiles_per_chunk;
  const float* q_rows;   // [B, H, T, Dp] q, packed once per backward call
  const float* do_rows;  // [B, H, T, Dp] dout
  const float* drow;     // [B, H, T] rowsum(dout * out)
  float* dq_acc;         // [key_chunks, B, H, T, Dp], zeroed
  const int32_t* key_mask;
  const int32_t* seg;
  int64_t B, T, S, H, KVH, D;
  int64_t off;
  int64_t window;  // sliding window in keys (0 = none); only with causal
  bool causal;
  float scale;
  float softcap;  // 0 = none; else scores become softcap * tanh(score / softcap)
  const float* alibi;  // [H] ALiBi slopes, or null
  bool bf16;   // operands rounded to bf16 (see the file comment)
  bool pairs;  // ... and the products on AVX512_BF16 over the pair copies below (AVX-512 path only)
  int64_t S2, T2;  // ceil(S / 2), ceil(T / 2): key / query pairs per head
  const uint32_t* k_pairs;   // [B, KVH, key tiles, Dp / 2, kCols] k_tiles, rows d paired (scores)
  const uint32_t* v_pairs;   // same for v_tiles (backward: dp = dout @ v^T)
  const uint32_t* kk_pairs;  // [B, KVH, S2, Dp] k_rows, keys paired (backward: dq += ds @ k)
  const uint32_t* vk_pairs;  // same for v_rows (forward: acc += p @ v)
  const uint32_t* q_words;   // [B, H, T, Dp / 2] q_rows in bf16 (backward scores)
  const uint32_t* do_words;  // same for do_rows (backward: dp)
  const uint32_t* qt_pairs;  // [B, H, T2, Dp] q_rows, queries paired (backward: dk += ds^T @ q)
  const uint32_t* dot_pairs; // same for do_rows (backward: dv += p^T @ dout)
};

// The pair-kernel GEMM where it exists (AttnArgs::pairs is never set elsewhere).
inline void gemm_pairs(int64_t M, int64_t N, int64_t kp, const uint32_t* a, int64_t a_rs, int64_t a_ks,
                       const uint32_t* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
#if defined(__x86_64__)
  attn_bf16::gemm_pairs(M, N, kp, a, a_rs, a_ks, b, ldb, c, ldc, accumulate);
#else
  (void)M, (void)N, (void)kp, (void)a, (void)a_rs, (void)a_ks, (void)b, (void)ldb, (void)c, (void)ldc, (void)accumulate;
#endif
}
inline void to_words(const float* src, int64_t n, uint32_t* dst) {
#if defined(__x86_64__)
  attn_bf16::to_words(src, n, dst);
#else
  (void)src, (void)n, (void)dst;
#endif
}
inline void pair_rows(const float* src, int64_t rows, int64_t width, int64_t ld, uint32_t* dst) {
#if defined(__x86_64__)
  attn_bf16::pair_rows(src, rows, width, ld, dst);
#else
  (void)src, (void)rows, (void)width, (void)ld, (void)dst;
#endif
}

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// The first key query row t can see: its window's start (0 without a window).
inline int64_t first_key(const AttnArgs& a, int64_t t) {
  return a.window > 0 ? std::max<int64_t>(0, a.off + t - a.window + 1) : 0;
}

// c[m][n] (+)= sum_k a[m * a_rs + k * a_ks] * b[k * ldb + n] for an MR x (NV * W) block kept in registers.
template <int W, int MR, int NV>
LMF_INLINE void micro(int64_t K, const float* a, int64_t a_rs, int64_t a_ks, const float* b, int64_t ldb, float* c,
                      int64_t ldc, bool accumulate) {
  using vf = typename Vec<W>::f;
  vf acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NV; ++j) acc[r][j] = accumulate ? vload<W>(c + r * ldc + j * W) : vf{};
  for (int64_t k = 0; k < K; ++k) {
    vf bv[NV];
    for (int j = 0; j < NV; ++j) bv[j] = vload<W>(b + k * ldb + j * W);
    for (int r = 0; r < MR; ++r) {
      const float av = a[r * a_rs + k * a_ks];  // a scalar operand: one broadcast per FMA group
      for (int j = 0; j < NV; ++j) acc[r][j] += av * bv[j];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NV; ++j) vstore<W>(c + r * ldc + j * W, acc[r][j]);
}

template <int W, int MR>
LMF_INLINE void micro_cols(int nv, int64_t K, const float* a, int64_t a_rs, int64_t a_ks, const float* b,
                           int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  switch (nv) {
    case 4: micro<W, MR, 4>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate); break;
    case 3: micro<W, MR, 3>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate); break;
    case 2: micro<W, MR, 2>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate); break;
    default: micro<W, MR, 1>(K, a, a_rs, a_ks, b, ldb, c, ldc, accumulate); break;
  }
}

// The small GEMM behind every product of the tiles: c [M, N] (+)= a [M, K] @ b [K, N], N a multiple of W, a read
// through strides (a_rs, a_ks) so a transposed operand (p^T, ds^T) needs no copy. Each c element is an FMA chain
// over k in order, whatever the blocking, so forward and backward recompute identical scores.
template <int W>
LMF_INLINE void gemm_acc(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs, int64_t a_ks,
                         const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  constexpr int kMr = W == 16 ? 4 : 2;  // 16 zmm accumulators with AVX-512; 8 ymm/xmm otherwise
  for (int64_t m0 = 0; m0 < M; m0 += kMr) {
    int mr = static_cast<int>(std::min<int64_t>(kMr, M - m0));
    for (int64_t n0 = 0; n0 < N; n0 += 4 * W) {
      int nv = static_cast<int>(std::min<int64_t>(4, (N - n0) / W));
      const float* am = a + m0 * a_rs;
      float* cm = c + m0 * ldc + n0;
      const float* bn = b + n0;
      if constexpr (kMr == 4) {
        if (mr == 4) {
          micro_cols<W, 4>(nv, K, am, a_rs, a_ks, bn, ldb, cm, ldc, accumulate);
          continue;
        }
        if (mr == 3) {
          micro_cols<W, 3>(nv, K, am, a_rs, a_ks, bn, ldb, cm, ldc, accumulate);
          continue;
        }
      }
      if (mr == 2)
        micro_cols<W, 2>(nv, K, am, a_rs, a_ks, bn, ldb, cm, ldc, accumulate);
      else
        micro_cols<W, 1>(nv, K, am, a_rs, a_ks, bn, ldb, cm, ldc, accumulate);
    }
  }
}

// Copies rows [r0, r0 + n) of head `head` of x [B, rows, heads, D] (batch b) into dst [n, Dp], zero-padded.
inline void pack_rows(const float* x, int64_t b, int64_t rows, int64_t heads, int64_t head, int64_t D, int64_t r0,
                      int64_t n, int64_t Dp, float* dst) {
  for (int64_t r = 0; r < n; ++r) {
    const float* src = x + ((b * rows + r0 + r) * heads + head) * D;
    float* d = dst + r * Dp;
    std::copy(src, src + D, d);
    std::fill(d + D, d + Dp, 0.f);
  }
}

// The transpose: dst [Dp, ncols] with dst[d][c] = x[b, r0 + c, head, d], zero outside n x D.
inline void pack_cols(const float* x, int64_t b, int64_t rows, int64_t heads, int64_t head, int64_t D, int64_t r0,
                      int64_t n, int64_t Dp, int64_t ncols, float* dst) {
  std::fill(dst, dst + Dp * ncols, 0.f);
  for (int64_t c = 0; c < n; ++c) {
    const float* src = x + ((b * rows + r0 + c) * heads + head) * D;
    for (int64_t d = 0; d < D; ++d) dst[d * ncols + c] = src[d];
  }
}

// Offsets of key tile `tile` / key row j of KV head g of batch b in the packed K and V.
inline int64_t tile_at(const AttnArgs& a, int64_t b, int64_t g, int64_t tile) {
  return ((b * a.KVH + g) * a.key_tiles + tile) * a.Dp * kCols;
}
inline int64_t row_at(const AttnArgs& a, int64_t b, int64_t g, int64_t j) { return ((b * a.KVH + g) * a.S + j) * a.Dp; }

// s [nr, ncols] = (q rows [t0, t0 + nr) . key cols [j0, j0 + nc)) * scale with every invisible pair at -inf.
// Forward and backward both call this, so p = exp(s - lse) in the backward matches the forward's softmax.
// With pairs, qw (q rows in bf16 words) and kw (the key tile's pairs) replace qp and kt.
template <int W>
LMF_INLINE void scores_tile(const AttnArgs& a, int64_t b, int64_t h, const float* qp, int64_t Dp, int64_t t0,
                            int64_t nr, const float* kt, int64_t j0, int64_t nc, int64_t ncols, float* s,
                            const uint32_t* qw = nullptr, const uint32_t* kw = nullptr) {
  if (a.pairs)
    gemm_pairs(nr, ncols, Dp / 2, qw, Dp / 2, 1, kw, kCols, s, ncols, false);
  else
    gemm_acc<W>(nr, ncols, a.D, qp, Dp, 1, kt, kCols, s, ncols, false);
  for (int64_t i = 0; i < nr * ncols; i += W) vstore<W>(s + i, vload<W>(s + i) * a.scale);
  if (a.softcap > 0.f) {
    const float c = a.softcap, inv = 1.f / a.softcap;
    for (int64_t i = 0; i < nr * ncols; ++i) s[i] = c * std::tanh(s[i] * inv);
  }
  if (a.alibi) {
    const float slope = a.alibi[h];
    for (int64_t r = 0; r < nr; ++r)
      for (int64_t c = 0; c < ncols; ++c) s[r * ncols + c] += slope * static_cast<float>(j0 + c);
  }
  bool all_visible = nc == ncols && !a.key_mask && !a.seg && (!a.causal || j0 + nc - 1 <= a.off + t0) &&
                     j0 >= first_key(a, t0 + nr - 1);  // the last row's window starts latest
  if (all_visible) return;
  for (int64_t r = 0; r < nr; ++r) {
    float* sr = s + r * ncols;
    int64_t t = t0 + r;
    int64_t last = a.causal ? std::min(nc, a.off + t - j0 + 1) : nc;  // keys [first, last) pass the causal test
    if (last < 0) last = 0;
    const int64_t first = std::min(last, std::max<int64_t>(0, first_key(a, t) - j0));  // ... and the window
    for (int64_t c = 0; c < first; ++c) sr[c] = kNegInf;
    for (int64_t c = last; c < ncols; ++c) sr[c] = kNegInf;
    if (a.key_mask) {
      const int32_t* km = a.key_mask + b * a.S + j0;
      for (int64_t c = first; c < last; ++c)
        if (!km[c]) sr[c] = kNegInf;
    }
    if (a.seg) {
      const int32_t* sg = a.seg + b * a.T;
      int32_t mine = sg[t];
      for (int64_t c = first; c < last; ++c)
        if (sg[j0 + c] != mine) sr[c] = kNegInf;
    }
  }
}

// Scratch reused across calls: fresh multi-megabyte buffers would page-fault on every call, which cost as much as
// the backward's arithmetic on the SmolLM2 shape. Blocks are taken and returned under a lock, best fit first;
// their contents are stale (every user writes or zeroes what it reads). At most kPoolSize blocks stay cached.
constexpr size_t kPoolSize = 32;
std::mutex g_pool_mu;
std::vector<std::vector<float>> g_pool;

std::vector<float> pool_take(size_t n) {
  std::vector<float> v;
  {
    std::lock_guard<std::mutex> lock(g_pool_mu);
    size_t best = g_pool.size();
    for (size_t i = 0; i < g_pool.size(); ++i) {
      const size_t cap = g_pool[i].size();
      const bool fits = cap >= n, best_fits = best < g_pool.size() && g_pool[best].size() >= n;
      if (best == g_pool.size() || (fits && (!best_fits || cap < g_pool[best].size())) ||
          (!fits && !best_fits && cap > g_pool[best].size()))
        best = i;
    }
    if (best < g_pool.size()) {
      v = std::move(g_pool[best]);
      g_pool.erase(g_pool.begin() + static_cast<std::ptrdiff_t>(best));
    }
  }
  if (v.size() < n) v.resize(n);
  return v;
}

void pool_put(std::vector<float>&& v) {
  std::lock_guard<std::mutex> lock(g_pool_mu);
  if (g_pool.size() < kPoolSize) g_pool.push_back(std::move(v));
}

struct Pooled {
  std::vector<float> v;
  explicit Pooled(size_t n = 0) : v(pool_take(n)) {}
  ~Pooled() { pool_put(std::move(v)); }
  Pooled(const Pooled&) = delete;
  Pooled& operator=(const Pooled&) = delete;
  float* data() { return v.data(); }
};

struct Scratch {
  Pooled buf;
  float* take(size_t n, size_t& used) {
    float* p = buf.v.data() + used;
    used += round_up(static_cast<int64_t>(n), 16);
    return p;
  }
};

// One forward task: batch b, query head h, query rows [t0, t0 + nr).
template <int W>
LMF_INLINE void forward_tile(const AttnArgs& a, int64_t task, Scratch& scratch) {
  using vf = typename Vec<W>::f;
  const int64_t ntiles = (a.T + kFwdRows - 1) / kFwdRows;
  // Within a head, the last (costliest, causal) tile is handed out first, so no thread is left with a big one at the end.
  const int64_t b = task / (a.H * ntiles), h = task / ntiles % a.H, t0 = (ntiles - 1 - task % ntiles) * kFwdRows;
  const int64_t nr = std::min<int64_t>(kFwdRows, a.T - t0);
  const int64_t kvh = h / (a.H / a.KVH);
  const int64_t Dp = a.Dp;
  size_t need = 0;
  for (int64_t n : {kFwdRows * Dp, kFwdRows * Dp, kFwdRows * kCols, kFwdRows * Dp / 2, kFwdRows * kCols / 2})
    need += round_up(n, 16);
  if (scratch.buf.v.size() < need) scratch.buf.v.resize(need);
  size_t used = 0;
  float* qp = scratch.take(kFwdRows * Dp, used);
  float* acc = scratch.take(kFwdRows * Dp, used);
  float* s = scratch.take(kFwdRows * kCols, used);
  uint32_t* qw = reinterpret_cast<uint32_t*>(scratch.take(kFwdRows * Dp / 2, used));  // pairs: q rows in bf16
  uint32_t* pw = reinterpret_cast<uint32_t*>(scratch.take(kFwdRows * kCols / 2, used));  // pairs: p rows in bf16
  float m[kFwdRows], l[kFwdRows];

  pack_rows(a.q, b, a.T, a.H, h, a.D, t0, nr, Dp, qp);
  if (a.pairs)
    to_words(qp, nr * Dp, qw);
  else if (a.bf16)
    attn_bf16::round_bf16(qp, nr * Dp);
  std::fill(acc, acc + nr * Dp, 0.f);
  std::fill(m, m + nr, kNegInf);
  std::fill(l, l + nr, 0.f);
  const int64_t kend = a.causal ? std::min(a.S, a.off + t0 + nr) : a.S;  // no key past this one is visible
  const int64_t kbegin = first_key(a, t0) / kCols * kCols;  // nor any tile before the first row's window
  for (int64_t j0 = kbegin; j0 < kend; j0 += kCols) {
    const int64_t nc = std::min<int64_t>(kCols, kend - j0), ncols = round_up(nc, W);
    const float* kt = a.k_tiles + tile_at(a, b, kvh, j0 / kCols);
    const float* vp = a.v_rows + row_at(a, b, kvh, j0);
    scores_tile<W>(a, b, h, qp, Dp, t0, nr, kt, j0, nc, ncols, s, qw, a.k_pairs + tile_at(a, b, kvh, j0 / kCols) / 2);
    for (int64_t r = 0; r < nr; ++r) {
      float* sr = s + r * ncols;
      vf mv = vset<W>(kNegInf);
      for (int64_t c = 0; c < ncols; c += W) mv = vmax<W>(mv, vload<W>(sr + c));
      const float mnew = std::max(m[r], hmax<W>(mv));
      if (mnew == kNegInf) {  // nothing visible to this row yet: its p row is 0
        std::fill(sr, sr + ncols, 0.f);
        continue;
      }
      vf sum = {};
      for (int64_t c = 0; c < ncols; c += W) {
        vf p = vexp<W>(vload<W>(sr + c) - mnew);
        vstore<W>(sr + c, p);
        sum += p;
      }
      const float alpha = std::exp(m[r] - mnew);  // 0 when m was -inf
      l[r] = l[r] * alpha + hsum<W>(sum);
      m[r] = mnew;
      if (alpha != 1.f) {
        float* ar = acc + r * Dp;
        for (int64_t d = 0; d < Dp; d += W) vstore<W>(ar + d, vload<W>(ar + d) * alpha);
      }
    }
    if (a.pairs) {  // acc += bf16(p) @ v over key pairs (a pad key past nc has p = 0 and a zero or real v row)
      to_words(s, nr * ncols, pw);
      const uint32_t* vw = a.vk_pairs + ((b * a.KVH + kvh) * a.S2 + j0 / 2) * Dp;
      gemm_pairs(nr, Dp, (nc + 1) / 2, pw, ncols / 2, 1, vw, Dp, acc, Dp, true);
    } else {
      if (a.bf16) attn_bf16::round_bf16(s, nr * ncols);
      gemm_acc<W>(nr, Dp, nc, s, ncols, 1, vp, Dp, acc, Dp, true);  // acc += p @ v
    }
  }
  for (int64_t r = 0; r < nr; ++r) {
    float* o = a.out + ((b * a.T + t0 + r) * a.H + h) * a.D;
    const float* ar = acc + r * Dp;
    const bool any = l[r] > 0.f;
    const float inv = any ? 1.f / l[r] : 0.f;
    for (int64_t d = 0; d < a.D; ++d) o[d] = ar[d] * inv;
    a.lse[(b * a.H + h) * a.T + t0 + r] = any ? m[r] + std::log(l[r]) : kNegInf;
  }
}

// One backward task: batch b, query head h, key chunk c, every query. Writes dq rows of head h (to dq, or to its
// chunk's copy) and the head's dk / dv rows of the chunk's keys (directly when H == KVH, else into the head's slice
// of dkv_heads): no two tasks write the same value.
template <int W>
LMF_INLINE void backward_head(const AttnArgs& a, int64_t task, Scratch& scratch) {
  const int64_t c_idx = task % a.key_chunks, bh = task / a.key_chunks;
  const int64_t b = bh / a.H, h = bh % a.H, kvh = h / (a.H / a.KVH);
  const int64_t Dp = a.Dp, T = a.T, S = a.S, D = a.D;
  const int64_t j_begin = c_idx * a.tiles_per_chunk * kCols;
  const int64_t j_end = std::min(S, (c_idx + 1) * a.tiles_per_chunk * kCols);
  const float* qp = a.q_rows + bh * T * Dp;
  const float* dop = a.do_rows + bh * T * Dp;
  const float* lse = a.lse + bh * T;
  const float* drow = a.drow + bh * T;
  float* dqa = a.dq_acc + (c_idx * a.B * a.H + bh) * T * Dp;
  std::fill(dqa, dqa + T * Dp, 0.f);  // pooled memory is stale; the final sum reads every row
  size_t need = 0;
  for (int64_t n : {kCols * Dp, kCols * Dp, kBwdRows * kCols, kBwdRows * kCols, kBwdRows * kCols,
                    kBwdRows * kCols / 2, kBwdRows * kCols / 2})
    need += round_up(n, 16);
  if (scratch.buf.v.size() < need) scratch.buf.v.resize(need);
  size_t used = 0;
  float* dka = scratch.take(kCols * Dp, used);
  float* dva = scratch.take(kCols * Dp, used);
  float* s = scratch.take(kBwdRows * kCols, used);
  float* ds = scratch.take(kBwdRows * kCols, used);
  float* cap_grad = scratch.take(kBwdRows * kCols, used);  // 1 - (s / softcap)^2 when soft-capping
  // pairs: p^T / ds^T paired along queries [nr / 2, ncols], ds rows in bf16 [nr, ncols / 2]
  uint32_t* pt_w = reinterpret_cast<uint32_t*>(scratch.take(kBwdRows * kCols / 2, used));
  uint32_t* ds_w = reinterpret_cast<uint32_t*>(scratch.take(kBwdRows * kCols / 2, used));
  const uint32_t* qw = a.pairs ? a.q_words + bh * T * Dp / 2 : nullptr;
  const uint32_t* dow = a.pairs ? a.do_words + bh * T * Dp / 2 : nullptr;
  const uint32_t* qtp = a.pairs ? a.qt_pairs + bh * a.T2 * Dp : nullptr;
  const uint32_t* dotp = a.pairs ? a.dot_pairs + bh * a.T2 * Dp : nullptr;

  const bool grouped = a.H != a.KVH;
  for (int64_t j0 = j_begin; j0 < j_end; j0 += kCols) {
    const int64_t nc = std::min<int64_t>(kCols, S - j0), ncols = round_up(nc, W);
    std::fill(dka, dka + nc * Dp, 0.f);
    std::fill(dva, dva + nc * Dp, 0.f);
    const int64_t tfirst = a.causal ? std::max<int64_t>(0, j0 - a.off) : 0;  // earlier queries see none of these
    // With a window, query t sees key j0 + nc - 1 only while off + t - (j0 + nc - 1) < w: later queries see none.
    const int64_t tend = a.window > 0 ? std::min(T, j0 + nc - 1 + a.window - a.off) : T;
    if (tfirst < tend) {
      const float* kt = a.k_tiles + tile_at(a, b, kvh, j0 / kCols);
      const float* vt = a.v_tiles + tile_at(a, b, kvh, j0 / kCols);
      const float* kp = a.k_rows + row_at(a, b, kvh, j0);
      const uint32_t* kw = a.pairs ? a.k_pairs + tile_at(a, b, kvh, j0 / kCols) / 2 : nullptr;
      const uint32_t* vw = a.pairs ? a.v_pairs + tile_at(a, b, kvh, j0 / kCols) / 2 : nullptr;
      const uint32_t* kkw = a.pairs ? a.kk_pairs + ((b * a.KVH + kvh) * a.S2 + j0 / 2) * Dp : nullptr;
      for (int64_t t0 = tfirst / kBwdRows * kBwdRows; t0 < tend; t0 += kBwdRows) {
        const int64_t nr = std::min<int64_t>(kBwdRows, T - t0);
        scores_tile<W>(a, b, h, qp + t0 * Dp, Dp, t0, nr, kt, j0, nc, ncols, s, qw ? qw + t0 * Dp / 2 : nullptr, kw);
        if (a.softcap > 0.f) {  // masked scores are -inf: their p is 0, so their factor is never used
          const float inv = 1.f / a.softcap;
          for (int64_t i = 0; i < nr * ncols; ++i) {
            const float u = s[i] * inv;
            cap_grad[i] = std::isfinite(u) ? 1.f - u * u : 0.f;
          }
        }
        for (int64_t r = 0; r < nr; ++r) {  // s -> p
          float* sr = s + r * ncols;
          const float l = lse[t0 + r];
          if (l == kNegInf) {
            std::fill(sr, sr + ncols, 0.f);
            continue;
          }
          for (int64_t c = 0; c < ncols; c += W) vstore<W>(sr + c, vexp<W>(vload<W>(sr + c) - l));
        }
        if (a.pairs)  // dp = dout @ v^T
          gemm_pairs(nr, ncols, Dp / 2, dow + t0 * Dp / 2, Dp / 2, 1, vw, kCols, ds, ncols, false);
        else
          gemm_acc<W>(nr, ncols, D, dop + t0 * Dp, Dp, 1, vt, kCols, ds, ncols, false);
        for (int64_t r = 0; r < nr; ++r) {  // ds = p * (dp - rowsum(dout * out)) * scale
          float* dr = ds + r * ncols;
          const float* pr = s + r * ncols;
          const float dsum = drow[t0 + r];
          for (int64_t c = 0; c < ncols; c += W)
            vstore<W>(dr + c, vload<W>(pr + c) * (vload<W>(dr + c) - dsum) * a.scale);
          if (a.softcap > 0.f) {
            const float* gr = cap_grad + r * ncols;
            for (int64_t c = 0; c < ncols; c += W) vstore<W>(dr + c, vload<W>(dr + c) * vload<W>(gr + c));
          }
        }
        if (a.pairs) {  // over query pairs (a pad row past nr is 0) and key pairs (pad keys have p = ds = 0)
          const int64_t rp = (nr + 1) / 2;
          pair_rows(s, nr, ncols, ncols, pt_w);
          gemm_pairs(nc, Dp, rp, pt_w, 1, ncols, dotp + t0 / 2 * Dp, Dp, dva, Dp, true);  // dv += p^T @ dout
          to_words(ds, nr * ncols, ds_w);
          gemm_pairs(nr, Dp, (nc + 1) / 2, ds_w, ncols / 2, 1, kkw, Dp, dqa + t0 * Dp, Dp, true);  // dq += ds @ k
          pair_rows(ds, nr, ncols, ncols, pt_w);
          gemm_pairs(nc, Dp, rp, pt_w, 1, ncols, qtp + t0 / 2 * Dp, Dp, dka, Dp, true);  // dk += ds^T @ q
        } else {
          if (a.bf16) {
            attn_bf16::round_bf16(s, nr * ncols);
            attn_bf16::round_bf16(ds, nr * ncols);
          }
          gemm_acc<W>(nc, Dp, nr, s, 1, ncols, dop + t0 * Dp, Dp, dva, Dp, true);  // dv += p^T @ dout
          gemm_acc<W>(nr, Dp, nc, ds, ncols, 1, kp, Dp, dqa + t0 * Dp, Dp, true);  // dq += ds @ k
          gemm_acc<W>(nc, Dp, nr, ds, 1, ncols, qp + t0 * Dp, Dp, dka, Dp, true);  // dk += ds^T @ q
        }
      }
    }
    for (int64_t c = 0; c < nc; ++c) {
      float *dk_row, *dv_row;
      if (grouped) {
        float* base = a.dkv_heads + ((b * a.H + h) * S + j0 + c) * D;
        dk_row = base;
        dv_row = base + a.B * a.H * S * D;
      } else {
        dk_row = a.dk + ((b * S + j0 + c) * a.KVH + kvh) * D;
        dv_row = a.dv + ((b * S + j0 + c) * a.KVH + kvh) * D;
      }
      std::copy(dka + c * Dp, dka + c * Dp + D, dk_row);
      std::copy(dva + c * Dp, dva + c * Dp + D, dv_row);
    }
  }
}

LMF_TARGET_AVX512 void forward_tile_avx512(const AttnArgs& a, int64_t i, Scratch& s) { forward_tile<16>(a, i, s); }
LMF_TARGET_AVX2 void forward_tile_avx2(const AttnArgs& a, int64_t i, Scratch& s) { forward_tile<8>(a, i, s); }
void forward_tile_portable(const AttnArgs& a, int64_t i, Scratch& s) { forward_tile<4>(a, i, s); }
LMF_TARGET_AVX512 void backward_head_avx512(const AttnArgs& a, int64_t i, Scratch& s) { backward_head<16>(a, i, s); }
LMF_TARGET_AVX2 void backward_head_avx2(const AttnArgs& a, int64_t i, Scratch& s) { backward_head<8>(a, i, s); }
void backward_head_portable(const AttnArgs& a, int64_t i, Scratch& s) { backward_head<4>(a, i, s); }

using TaskFn = void (*)(const AttnArgs&, int64_t, Scratch&);

// Runs fn for tasks [0, n) handed out one at a time (tasks are large and uneven: causal tiles grow with t).
void run_tasks(int64_t n, TaskFn fn, const AttnArgs& a) {
  std::atomic<int64_t> next{0};
  parallel_run(
      [&](int, int) {
        Scratch scratch;
        for (int64_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(a, i, scratch);
      },
      static_cast<int>(std::min<int64_t>(n, 1 << 20)));
}

// Packs K (and V) once for every (b, KV head, key tile), in parallel: the transposes are scalar and would cost
// as much as the score GEMM if every query tile repeated them.
struct PackedKV {
  Pooled k_tiles, v_tiles, k_rows, v_rows;
  Pooled k_pairs, v_pairs, kk_pairs, vk_pairs;  // bf16 pairs (AttnArgs::pairs)
};
// The forward packs only the keys some query can see: with a KV cache, S is the cache's capacity and every slot
// past off + T is unwritten, and with a sliding window the tiles before query 0's window are never read. The
// backward packs all S (it writes dk, dv for every key).
void pack_kv(AttnArgs& a, PackedKV& p, bool backward) {
  a.Dp = round_up(a.D, 16);
  a.key_tiles = (a.S + kCols - 1) / kCols;
  const int64_t visible = backward || !a.causal ? a.S : std::min(a.S, a.off + a.T);
  const int64_t packed_tiles = (visible + kCols - 1) / kCols;
  const int64_t first_tile = backward ? 0 : std::min(packed_tiles, first_key(a, 0) / kCols);
  const size_t tiles = static_cast<size_t>(a.B * a.KVH * a.key_tiles * a.Dp * kCols);
  const size_t rows = static_cast<size_t>(a.B * a.KVH * a.S * a.Dp);
  p.k_tiles.v.resize(std::max(p.k_tiles.v.size(), tiles));
  Pooled& v_pack = backward ? p.v_tiles : p.v_rows;
  v_pack.v.resize(std::max(v_pack.v.size(), backward ? tiles : rows));
  if (backward) p.k_rows.v.resize(std::max(p.k_rows.v.size(), rows));
  a.k_tiles = p.k_tiles.data();
  a.v_tiles = p.v_tiles.data();
  a.k_rows = p.k_rows.data();
  a.v_rows = p.v_rows.data();
  a.S2 = (a.S + 1) / 2;
  if (a.pairs) {
    const size_t key_pairs = static_cast<size_t>(a.B * a.KVH * a.S2 * a.Dp);
    p.k_pairs.v.resize(std::max(p.k_pairs.v.size(), tiles / 2));
    Pooled& v_paired = backward ? p.v_pairs : p.vk_pairs;
    v_paired.v.resize(std::max(v_paired.v.size(), backward ? tiles / 2 : key_pairs));
    if (backward) p.kk_pairs.v.resize(std::max(p.kk_pairs.v.size(), key_pairs));
    a.k_pairs = reinterpret_cast<const uint32_t*>(p.k_pairs.data());
    a.v_pairs = reinterpret_cast<const uint32_t*>(p.v_pairs.data());
    a.kk_pairs = reinterpret_cast<const uint32_t*>(p.kk_pairs.data());
    a.vk_pairs = reinterpret_cast<const uint32_t*>(p.vk_pairs.data());
  }
  // A tile's pairs, or (bf16 without the instructions) its f32 packing rounded to bf16.
  auto tile_bf16 = [&](Pooled& f32, Pooled& paired, int64_t at) {
    if (a.pairs)
      pair_rows(f32.data() + at, a.Dp, kCols, kCols, reinterpret_cast<uint32_t*>(paired.data()) + at / 2);
    else
      attn_bf16::round_bf16(f32.data() + at, a.Dp * kCols);
  };
  auto rows_bf16 = [&](Pooled& f32, Pooled& paired, int64_t b, int64_t g, int64_t j0, int64_t nc) {
    float* src = f32.data() + row_at(a, b, g, j0);
    if (a.pairs)
      pair_rows(src, nc, a.Dp, a.Dp, reinterpret_cast<uint32_t*>(paired.data()) + ((b * a.KVH + g) * a.S2 + j0 / 2) * a.Dp);
    else
      attn_bf16::round_bf16(src, nc * a.Dp);
  };
  const int64_t span = packed_tiles - first_tile;
  auto pack = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / (a.KVH * span), g = i / span % a.KVH, tile = first_tile + i % span;
      const int64_t j0 = tile * kCols, nc = std::min<int64_t>(kCols, visible - j0);
      pack_cols(a.k, b, a.S, a.KVH, g, a.D, j0, nc, a.Dp, kCols, p.k_tiles.data() + tile_at(a, b, g, tile));
      if (backward) {
        pack_cols(a.v, b, a.S, a.KVH, g, a.D, j0, nc, a.Dp, kCols, p.v_tiles.data() + tile_at(a, b, g, tile));
        pack_rows(a.k, b, a.S, a.KVH, g, a.D, j0, nc, a.Dp, p.k_rows.data() + row_at(a, b, g, j0));
      } else {
        pack_rows(a.v, b, a.S, a.KVH, g, a.D, j0, nc, a.Dp, p.v_rows.data() + row_at(a, b, g, j0));
      }
      if (a.bf16) {
        tile_bf16(p.k_tiles, p.k_pairs, tile_at(a, b, g, tile));
        if (backward) {
          tile_bf16(p.v_tiles, p.v_pairs, tile_at(a, b, g, tile));
          rows_bf16(p.k_rows, p.kk_pairs, b, g, j0, nc);
        } else {
          rows_bf16(p.v_rows, p.vk_pairs, b, g, j0, nc);
        }
      }
    }
  };
  parallel_for(a.B * a.KVH * span, 4, pack);
}

AttnArgs read_args(const Napi::CallbackInfo& info, size_t dims_at) {
  AttnArgs a{};
  a.B = arg_int(info, dims_at);
  a.T = arg_int(info, dims_at + 1);
  a.S = arg_int(info, dims_at + 2);
  a.H = arg_int(info, dims_at + 3);
  a.KVH = arg_int(info, dims_at + 4);
  a.D = arg_int(info, dims_at + 5);
  a.causal = arg_bool(info, dims_at + 6);
  a.scale = static_cast<float>(arg_double(info, dims_at + 7));
  a.off = arg_int(info, dims_at + 8);
  a.key_mask = arg_opt_ptr<int32_t>(info, dims_at + 9);
  a.seg = arg_opt_ptr<int32_t>(info, dims_at + 10);
  a.window = arg_int(info, dims_at + 11);
  a.softcap = static_cast<float>(arg_double(info, dims_at + 12));
  a.alibi = arg_opt_ptr<float>(info, dims_at + 13);
  a.bf16 = info.Length() > dims_at + 14 && arg_bool(info, dims_at + 14);
  a.pairs = a.bf16 && isa() == Isa::avx512 && bf16_instructions();
  return a;
}

bool valid_dims(const AttnArgs& a) {
  return a.B > 0 && a.T > 0 && a.S > 0 && a.H > 0 && a.KVH > 0 && a.D > 0 && a.H % a.KVH == 0 &&
         (!a.seg || a.T == a.S) && a.window >= 0 && (a.window == 0 || a.causal) && a.softcap >= 0.f;
}

// attentionForward(q, k, v, out, lse, B, T, S, H, KVH, D, causal, scale, queryOffset, keyMask|null, segIds|null,
//                  slidingWindow (0 = none), softcap (0 = none), alibiSlopes|null, bf16?)
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  AttnArgs a = read_args(info, 5);
  LMF_CHECK(info.Env(), valid_dims(a), "attentionForward: invalid dimensions (the TypeScript op validates them)");
  a.q = arg_ptr<float>(info, 0);
  a.k = arg_ptr<float>(info, 1);
  a.v = arg_ptr<float>(info, 2);
  a.out = arg_ptr<float>(info, 3);
  a.lse = arg_ptr<float>(info, 4);
  PackedKV packed;
  pack_kv(a, packed, false);
  Isa i = isa();
  TaskFn fn = i == Isa::avx512 ? forward_tile_avx512 : i == Isa::avx2 ? forward_tile_avx2 : forward_tile_portable;
  run_tasks(a.B * a.H * ((a.T + kFwdRows - 1) / kFwdRows), fn, a);
  return info.Env().Undefined();
}

// attentionBackward(q, k, v, out, lse, dout, dq, dk, dv, B, T, S, H, KVH, D, causal, scale, queryOffset,
//                   keyMask|null, segIds|null, slidingWindow (0 = none), softcap (0 = none), alibiSlopes|null,
//                   bf16? (as the forward had it: the recomputed scores must match its lse)
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  AttnArgs a = read_args(info, 9);
  LMF_CHECK(info.Env(), valid_dims(a), "attentionBackward: invalid dimensions (the TypeScript op validates them)");
  a.q = arg_ptr<float>(info, 0);
  a.k = arg_ptr<float>(info, 1);
  a.v = arg_ptr<float>(info, 2);
  a.out = arg_ptr<float>(info, 3);
  a.lse = arg_ptr<float>(info, 4);
  a.dout = arg_ptr<float>(info, 5);
  a.dq = arg_ptr<float>(info, 6);
  a.dk = arg_ptr<float>(info, 7);
  a.dv = arg_ptr<float>(info, 8);
  PackedKV packed;
  pack_kv(a, packed, true);
  Pooled heads(a.H != a.KVH ? static_cast<size_t>(2 * a.B * a.H * a.S * a.D) : 0);
  a.dkv_heads = heads.data();
  // At least ~32 tasks when B * H is small (a 16-core machine stays busy with B = 1), at most 4 dq copies. The
  // split is a function of the shapes only, so the result never depends on the thread count.
  const int64_t want = (32 + a.B * a.H - 1) / (a.B * a.H);
  a.tiles_per_chunk = (a.key_tiles + std::min<int64_t>({want, 4, a.key_tiles}) - 1) / std::min<int64_t>({want, 4, a.key_tiles});
  a.key_chunks = (a.key_tiles + a.tiles_per_chunk - 1) / a.tiles_per_chunk;
  // q and dout packed per (b, h) once, shared by the key chunks; rowsum(dout * out) alongside.
  const int64_t head_rows = a.B * a.H * a.T * a.Dp;
  Pooled q_rows(head_rows), do_rows(head_rows), drow(a.B * a.H * a.T), dq_acc(a.key_chunks * head_rows);
  a.q_rows = q_rows.data();
  a.do_rows = do_rows.data();
  a.drow = drow.data();
  a.dq_acc = dq_acc.data();
  a.T2 = (a.T + 1) / 2;
  const int64_t paired_rows = a.pairs ? a.B * a.H * a.T2 * a.Dp : 0;
  Pooled q_words(a.pairs ? head_rows / 2 : 0), do_words(a.pairs ? head_rows / 2 : 0), qt_pairs(paired_rows),
      dot_pairs(paired_rows);
  a.q_words = reinterpret_cast<const uint32_t*>(q_words.data());
  a.do_words = reinterpret_cast<const uint32_t*>(do_words.data());
  a.qt_pairs = reinterpret_cast<const uint32_t*>(qt_pairs.data());
  a.dot_pairs = reinterpret_cast<const uint32_t*>(dot_pairs.data());
  parallel_for(a.B * a.H, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t bh = i0; bh < i1; ++bh) {
      const int64_t b = bh / a.H, h = bh % a.H;
      float* qr = q_rows.data() + bh * a.T * a.Dp;
      float* dr = do_rows.data() + bh * a.T * a.Dp;
      pack_rows(a.q, b, a.T, a.H, h, a.D, 0, a.T, a.Dp, qr);
      pack_rows(a.dout, b, a.T, a.H, h, a.D, 0, a.T, a.Dp, dr);
      for (int64_t t = 0; t < a.T; ++t) {
        const float* o = a.out + ((b * a.T + t) * a.H + h) * a.D;
        float acc = 0.f;
        for (int64_t d = 0; d < a.D; ++d) acc += dr[t * a.Dp + d] * o[d];
        drow.v[bh * a.T + t] = acc;
      }
      if (a.pairs) {  // (rowsum(dout * out) above stays f32, from the unrounded dout)
        to_words(qr, a.T * a.Dp, reinterpret_cast<uint32_t*>(q_words.data()) + bh * a.T * a.Dp / 2);
        to_words(dr, a.T * a.Dp, reinterpret_cast<uint32_t*>(do_words.data()) + bh * a.T * a.Dp / 2);
        pair_rows(qr, a.T, a.Dp, a.Dp, reinterpret_cast<uint32_t*>(qt_pairs.data()) + bh * a.T2 * a.Dp);
        pair_rows(dr, a.T, a.Dp, a.Dp, reinterpret_cast<uint32_t*>(dot_pairs.data()) + bh * a.T2 * a.Dp);
      } else if (a.bf16) {
        attn_bf16::round_bf16(qr, a.T * a.Dp);
        attn_bf16::round_bf16(dr, a.T * a.Dp);
      }
    }
  });
  Isa i = isa();
  TaskFn fn = i == Isa::avx512 ? backward_head_avx512 : i == Isa::avx2 ? backward_head_avx2 : backward_head_portable;
  run_tasks(a.B * a.H * a.key_chunks, fn, a);
  // dq [B, T, H, D] = sum of the chunks' copies [B, H, T, Dp], in chunk order
  parallel_for(a.B * a.T * a.H, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / (a.T * a.H), t = r / a.H % a.T, h = r % a.H;
      float* dst = a.dq + r * a.D;
      const float* src = a.dq_acc + ((b * a.H + h) * a.T + t) * a.Dp;
      for (int64_t d = 0; d < a.D; ++d) dst[d] = src[d];
      for (int64_t c = 1; c < a.key_chunks; ++c)
        for (int64_t d = 0; d < a.D; ++d) dst[d] += src[c * head_rows + d];
    }
  });
  if (a.H != a.KVH) {  // dk, dv of a KV head = sum over its query heads, in head order
    const int64_t group = a.H / a.KVH, D = a.D, half = a.B * a.H * a.S * D;
    parallel_for(a.B * a.S * a.KVH, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = r / (a.S * a.KVH), j = r / a.KVH % a.S, g = r % a.KVH;
        float* dk = a.dk + r * D;
        float* dv = a.dv + r * D;
        for (int64_t d = 0; d < D; ++d) dk[d] = dv[d] = 0.f;
        for (int64_t hh = g * group; hh < (g + 1) * group; ++hh) {
          const float* src = a.dkv_heads + ((b * a.H + hh) * a.S + j) * D;
          for (int64_t d = 0; d < D; ++d) {
            dk[d] += src[d];
            dv[d] += src[half + d];
          }
        }
      }
    });
  }
  return info.Env().Undefined();
}

}  // namespace

LMF_MODULE(attention) {
  exports.Set("attentionForward", Napi::Function::New(env, AttentionForward));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward));
}

}  // namespace lmf
