// Row primitives of a softmax over a vocabulary, shared by cross_entropy.cc and linear_cross_entropy.cc.
// Always-inline templates over the vector width W: each kernel instantiates them inside its per-ISA wrappers.
//   row_logsumexp(x [V]) -> log sum_v exp(x[v])
//   row_grad(x [V], lse, label, coef, d [V]):  d = coef * (exp(x - lse) - onehot(label))   (d may alias x)
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/vec.h"

namespace lmf {

constexpr float kSoftmaxNegInf = -std::numeric_limits<float>::infinity();

// A max pass, then a sum of exp(x - max) over W lanes x 4 accumulators.
template <int W>
LMF_INLINE float row_logsumexp(const float* x, int64_t V) {
  using vf = typename Vec<W>::f;
  const int64_t body = V / W * W;
  vf m0 = vset<W>(kSoftmaxNegInf), m1 = m0;
  int64_t c = 0;
  for (; c + 2 * W <= body; c += 2 * W) {
    m0 = vmax<W>(m0, vload<W>(x + c));
    m1 = vmax<W>(m1, vload<W>(x + c + W));
  }
  for (; c < body; c += W) m0 = vmax<W>(m0, vload<W>(x + c));
  float m = hmax<W>(vmax<W>(m0, m1));
  for (c = body; c < V; ++c) m = std::max(m, x[c]);
  if (std::isinf(m)) return m;  // all -inf, or an inf logit: the row's loss is not finite anyway
  vf s0 = {}, s1 = {}, s2 = {}, s3 = {};
  for (c = 0; c + 4 * W <= body; c += 4 * W) {
    s0 += vexp<W>(vload<W>(x + c) - m);
    s1 += vexp<W>(vload<W>(x + c + W) - m);
    s2 += vexp<W>(vload<W>(x + c + 2 * W) - m);
    s3 += vexp<W>(vload<W>(x + c + 3 * W) - m);
  }
  for (; c < body; c += W) s0 += vexp<W>(vload<W>(x + c) - m);
  if (body < V) {  // the tail through one padded vector: exp(-inf) = 0 for the padding
    float tail[W];
    for (int i = 0; i < W; ++i) tail[i] = body + i < V ? x[body + i] : kSoftmaxNegInf;
    s1 += vexp<W>(vload<W>(tail) - m);
  }
  return m + std::log(hsum<W>((s0 + s1) + (s2 + s3)));
}

// Each element is read before it is written, so d may be x itself (the fused linear cross-entropy overwrites its
// logits with their gradient).
template <int W>
LMF_INLINE void row_grad(const float* x, float lse, int32_t label, float coef, float* d, int64_t V) {
  using vf = typename Vec<W>::f;
  const int64_t body = V / W * W;
  for (int64_t c = 0; c < body; c += W) vstore<W>(d + c, vexp<W>(vload<W>(x + c) - lse) * coef);
  if (body < V) {
    float tail[W];
    for (int i = 0; i < W; ++i) tail[i] = body + i < V ? x[body + i] : kSoftmaxNegInf;
    vf g = vexp<W>(vload<W>(tail) - lse) * coef;
    for (int64_t c = body; c < V; ++c) d[c] = g[c - body];
  }
  d[label] -= coef;
}

}  // namespace lmf
