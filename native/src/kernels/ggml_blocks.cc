// ggml's block formats for GGUF export and import, quantized the way llama.cpp's reference quantizer (the one
// llama-quantize runs without an importance matrix) does, in the same float32 arithmetic, so a file lmforge writes
// holds the bytes llama.cpp would have written.
//
// Layouts (little-endian, `d`/`m` are IEEE half; element order is the row-major flattening of W [rows, cols], each
// row a whole number of blocks):
//   Q4_0  32 values, 18 bytes: d; 16 bytes of nibbles, byte j = q[j] | q[j + 16] << 4.         w = d * (q - 8)
//   Q5_0  32 values, 22 bytes: d; qh (u32, bit j = bit 4 of q[j]); 16 bytes of low nibbles.      w = d * (q - 16)
//   Q5_1  32 values, 24 bytes: d, m; qh; low nibbles.                                           w = d * q + m
//   Q4_K  256 values, 144 bytes: d, dmin; 12 bytes of 6-bit (scale, min) for 8 sub-blocks of 32; 128 bytes of
//         nibbles, per 64 values byte l = q[l] | q[l + 32] << 4.                 w = d * sc[s] * q - dmin * mn[s]
//   Q5_K  256 values, 176 bytes: d, dmin; 12 scale bytes; qh[32] (bit 2k / 2k+1 = bit 4 of the k-th 64's first /
//         second half); 128 bytes of low nibbles as Q4_K.
//   Q6_K  256 values, 210 bytes: ql[128], qh[64], 16 int8 scales (one per 16 values), d.   w = d * sc[s] * (q - 32)
//         per 128 values: ql[l] = q[l] | q[l + 64] << 4, ql[l + 32] = q[l + 32] | q[l + 96] << 4,
//         qh[l] = the high 2 bits of q[l], q[l + 32], q[l + 64], q[l + 96] at bits 0, 2, 4, 6.
// 6-bit K-scales: sub-blocks 0..3 keep scale and min in the low 6 bits of bytes j and j + 4; sub-blocks 4..7 keep
// their low 4 bits in byte j + 4 (scale low nibble, min high nibble) and their top 2 bits in bits 6..7 of bytes
// j - 4 (scale) and j (min).
//
// No fused multiply-add here: the search for scales compares float sums, and a contracted a*b+c would pick
// different quants than llama.cpp's plain float code on some blocks.
#pragma GCC optimize("fp-contract=off")
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/dtype.h"
#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"

namespace lmf {
namespace {

// ggml_type ids.
enum GgmlType : int { kQ4_0 = 2, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14 };
constexpr int QK = 256;

struct Format {
  int elements, bytes;
};
bool format_of(int type, Format* f) {
  switch (type) {
    case kQ4_0: *f = {32, 18}; return true;
    case kQ5_0: *f = {32, 22}; return true;
    case kQ5_1: *f = {32, 24}; return true;
    case kQ8_0: *f = {32, 34}; return true;
    case kQ4_K: *f = {QK, 144}; return true;
    case kQ5_K: *f = {QK, 176}; return true;
    case kQ6_K: *f = {QK, 210}; return true;
    default: return false;
  }
}

inline uint16_t half(float v) { return f32_to_f16(v); }
inline float unhalf(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}
inline void put_half(uint8_t* p, float v) {
  const uint16_t h = half(v);
  std::memcpy(p, &h, 2);
}

// Round to nearest, ties to even, by the float magic-number trick (|v| < 2^22), exactly as ggml rounds.
inline int nearest_int(float v) {
  float t = v + 12582912.f;
  int i;
  std::memcpy(&i, &t, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}

// ---- 32-value blocks ----

void quantize_q4_0(const float* x, uint8_t* y) {
  float amax = 0.f, max = 0.f;
  for (int j = 0; j < 32; ++j)
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  const float d = max / -8;
  const float id = d ? 1.0f / d : 0.0f;
  put_half(y, d);
  for (int j = 0; j < 16; ++j) {
    const uint8_t a = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
    const uint8_t b = std::min(15, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 8.5f)));
    y[2 + j] = a | (b << 4);
  }
}

void quantize_q5_0(const float* x, uint8_t* y) {
  float amax = 0.f, max = 0.f;
  for (int j = 0; j < 32; ++j)
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  const float d = max / -16;
  const float id = d ? 1.0f / d : 0.0f;
  put_half(y, d);
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    const uint8_t a = std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f)));
    const uint8_t b = std::min(31, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 16.5f)));
    y[6 + j] = (a & 15) | ((b & 15) << 4);
    qh |= ((a & 0x10u) >> 4) << j;
    qh |= ((b & 0x10u) >> 4) << (j + 16);
  }
  std::memcpy(y + 2, &qh, 4);
}

void quantize_q5_1(const float* x, uint8_t* y) {
  float min = FLT_MAX, max = -FLT_MAX;
  for (int j = 0; j < 32; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
  const float d = (max - min) / 31;
  const float id = d ? 1.0f / d : 0.0f;
  put_half(y, d);
  put_half(y + 2, min);
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    const uint8_t a = static_cast<uint8_t>((x[j] - min) * id + 0.5f);
    const uint8_t b = static_cast<uint8_t>((x[j + 16] - min) * id + 0.5f);
    y[8 + j] = (a & 15) | ((b & 15) << 4);
    qh |= ((a & 0x10u) >> 4) << j;
    qh |= ((b & 0x10u) >> 4) << (j + 16);
  }
  std::memcpy(y + 4, &qh, 4);
}

void quantize_q8_0(const float* x, uint8_t* y) {
  float amax = 0.f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127;
  const float id = d ? 1.0f / d : 0.0f;
  put_half(y, d);
  for (int j = 0; j < 32; ++j) reinterpret_cast<int8_t*>(y + 2)[j] = static_cast<int8_t>(std::round(x[j] * id));
}

// ---- K-quant helpers ----

// Asymmetric levels 0..nmax for n values with weights: the scale and min (returned through the_min as -min)
// minimizing the weighted squared error, searched over nstep + 1 candidate scales around nmax / (max - min).
float search_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float* the_min, uint8_t* Laux,
                       float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = w[0], sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
    L[i] = static_cast<uint8_t>(l);
    const float diff = scale * L[i] + min - x[i];
    best += w[i] * (diff * diff);
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
      Laux[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float err = 0;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * Laux[i] + this_min - x[i];
        err += w[i] * (diff * diff);
      }
      if (err < best) {
        std::memcpy(L, Laux, n);
        best = err;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// Symmetric levels -nmax..nmax-1 (stored + nmax) for n values, weights x^2: the scale of the best of 19 candidates.
float search_scale_symmetric(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < 1e-15f) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i])));
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i])));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i)
        L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i]))));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

inline void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Q4_K / Q5_K share everything but the level count and the search: per 32-value sub-block a weighted
// scale + min search, then both quantized to 6 bits against the super-block's largest, then the levels again.
void k_scales_and_levels(const float* x, int nmax, float rmin, int nstep, uint8_t* d_dmin, uint8_t* scales,
                         uint8_t* L) {
  uint8_t Laux[32];
  float w[32], mins[8], subscales[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(x[32 * j + l]);
    subscales[j] = search_scale_min(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep);
    if (subscales[j] > max_scale) max_scale = subscales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; ++j) {
    const uint8_t ls = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * subscales[j])));
    const uint8_t lm = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    if (j < 4) {
      scales[j] = ls;
      scales[j + 4] = lm;
    } else {
      scales[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
      scales[j - 4] |= (ls >> 4) << 6;
      scales[j] |= (lm >> 4) << 6;
    }
  }
  put_half(d_dmin, max_scale / 63.f);
  put_half(d_dmin + 2, max_min / 63.f);
  const float d_all = unhalf(d_dmin), dmin_all = unhalf(d_dmin + 2);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    scale_min_k4(j, scales, &sc, &m);
    const float d = d_all * sc;
    if (!d) continue;
    const float dm = dmin_all * m;
    for (int ii = 0; ii < 32; ++ii)
      L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(nmax, nearest_int((x[32 * j + ii] + dm) / d))));
  }
}

void quantize_q4_K(const float* x, uint8_t* y) {
  uint8_t L[QK];
  k_scales_and_levels(x, 15, -1.f, 20, y, y + 4, L);
  uint8_t* q = y + 16;
  for (int j = 0; j < QK; j += 64, q += 32)
    for (int l = 0; l < 32; ++l) q[l] = L[j + l] | (L[j + l + 32] << 4);
}

void quantize_q5_K(const float* x, uint8_t* y) {
  uint8_t L[QK];
  k_scales_and_levels(x, 31, -0.5f, 15, y, y + 4, L);
  uint8_t* qh = y + 16;
  uint8_t* ql = y + 48;
  std::memset(qh, 0, 32);
  uint8_t m1 = 1, m2 = 2;
  for (int n = 0; n < QK; n += 64, ql += 32, m1 <<= 2, m2 <<= 2)
    for (int j = 0; j < 32; ++j) {
      int l1 = L[n + j], l2 = L[n + j + 32];
      if (l1 > 15) {
        l1 -= 16;
        qh[j] |= m1;
      }
      if (l2 > 15) {
        l2 -= 16;
        qh[j] |= m2;
      }
      ql[j] = l1 | (l2 << 4);
    }
}

void quantize_q6_K(const float* x, uint8_t* y) {
  int8_t L[QK];
  float scales[16];
  float max_scale = 0, max_abs_scale = 0;
  for (int ib = 0; ib < 16; ++ib) {
    scales[ib] = search_scale_symmetric(16, 32, x + 16 * ib, L + 16 * ib);
    const float abs_scale = std::fabs(scales[ib]);
    if (abs_scale > max_abs_scale) {
      max_abs_scale = abs_scale;
      max_scale = scales[ib];
    }
  }
  uint8_t* ql = y;
  uint8_t* qh = y + 128;
  int8_t* sc = reinterpret_cast<int8_t*>(y + 192);
  if (max_abs_scale < 1e-15f) {
    std::memset(y, 0, 210);
    return;
  }
  const float iscale = -128.f / max_scale;
  put_half(y + 208, 1 / iscale);
  for (int ib = 0; ib < 16; ++ib) sc[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
  const float d_all = unhalf(y + 208);
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * sc[j];
    if (!d) continue;
    for (int ii = 0; ii < 16; ++ii)
      L[16 * j + ii] = static_cast<int8_t>(std::max(-32, std::min(31, nearest_int(x[16 * j + ii] / d))) + 32);
  }
  for (int j = 0; j < QK; j += 128, ql += 64, qh += 32)
    for (int l = 0; l < 32; ++l) {
      const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
      ql[l] = q1 | (q3 << 4);
      ql[l + 32] = q2 | (q4 << 4);
      qh[l] = (L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6);
    }
}

// ---- dequantization (one block to floats) ----

void dequantize_block(int type, const uint8_t* b, float* y) {
  switch (type) {
    case kQ4_0: {
      const float d = unhalf(b);
      for (int j = 0; j < 16; ++j) {
        y[j] = ((b[2 + j] & 0xF) - 8) * d;
        y[j + 16] = ((b[2 + j] >> 4) - 8) * d;
      }
      return;
    }
    case kQ5_0:
    case kQ5_1: {
      const bool q51 = type == kQ5_1;
      const float d = unhalf(b), m = q51 ? unhalf(b + 2) : 0.f;
      uint32_t qh;
      std::memcpy(&qh, b + (q51 ? 4 : 2), 4);
      const uint8_t* qs = b + (q51 ? 8 : 6);
      for (int j = 0; j < 16; ++j) {
        const int lo = (qs[j] & 0xF) | (((qh >> j) & 1) << 4);
        const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
        y[j] = q51 ? lo * d + m : (lo - 16) * d;
        y[j + 16] = q51 ? hi * d + m : (hi - 16) * d;
      }
      return;
    }
    case kQ8_0: {
      const float d = unhalf(b);
      for (int j = 0; j < 32; ++j) y[j] = reinterpret_cast<const int8_t*>(b + 2)[j] * d;
      return;
    }
    case kQ4_K:
    case kQ5_K: {
      const bool q5 = type == kQ5_K;
      const float d = unhalf(b), min = unhalf(b + 2);
      const uint8_t* scales = b + 4;
      const uint8_t* qh = b + 16;
      const uint8_t* q = b + (q5 ? 48 : 16);
      uint8_t u1 = 1, u2 = 2;
      for (int j = 0, is = 0; j < QK; j += 64, q += 32, is += 2, u1 <<= 2, u2 <<= 2) {
        uint8_t sc, m;
        scale_min_k4(is, scales, &sc, &m);
        const float d1 = d * sc, m1 = min * m;
        scale_min_k4(is + 1, scales, &sc, &m);
        const float d2 = d * sc, m2 = min * m;
        for (int l = 0; l < 32; ++l) *y++ = d1 * ((q[l] & 0xF) + (q5 && (qh[l] & u1) ? 16 : 0)) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * ((q[l] >> 4) + (q5 && (qh[l] & u2) ? 16 : 0)) - m2;
      }
      return;
    }
    case kQ6_K: {
      const float d = unhalf(b + 208);
      const uint8_t* ql = b;
      const uint8_t* qh = b + 128;
      const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
      for (int n = 0; n < QK; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; ++l) {
          const int is = l / 16;
          const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
          const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
          const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
          const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
          y[l] = d * sc[is] * q1;
          y[l + 32] = d * sc[is + 2] * q2;
          y[l + 64] = d * sc[is + 4] * q3;
          y[l + 96] = d * sc[is + 6] * q4;
        }
      return;
    }
  }
}

void quantize_block(int type, const float* x, uint8_t* y) {
  switch (type) {
    case kQ4_0: return quantize_q4_0(x, y);
    case kQ5_0: return quantize_q5_0(x, y);
    case kQ5_1: return quantize_q5_1(x, y);
    case kQ8_0: return quantize_q8_0(x, y);
    case kQ4_K: return quantize_q4_K(x, y);
    case kQ5_K: return quantize_q5_K(x, y);
    case kQ6_K: return quantize_q6_K(x, y);
  }
}

// ggmlQuantize(src f32 storage, dst storage, type, n): n values (a multiple of the block) into blocks.
Napi::Value GgmlQuantize(const Napi::CallbackInfo& info) {
  const float* x = arg_ptr<float>(info, 0);
  uint8_t* y = arg_ptr<uint8_t>(info, 1);
  const int type = static_cast<int>(arg_int(info, 2));
  const int64_t n = arg_int(info, 3);
  Format f;
  LMF_CHECK(info.Env(), format_of(type, &f), "ggmlQuantize: unknown ggml type");
  LMF_CHECK(info.Env(), n % f.elements == 0, "ggmlQuantize: n is not a whole number of blocks");
  parallel_for(n / f.elements, 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) quantize_block(type, x + i * f.elements, y + i * f.bytes);
  });
  return info.Env().Undefined();
}

// ggmlDequantize(src storage, dst f32 storage, type, n).
Napi::Value GgmlDequantize(const Napi::CallbackInfo& info) {
  const uint8_t* b = arg_ptr<uint8_t>(info, 0);
  float* y = arg_ptr<float>(info, 1);
  const int type = static_cast<int>(arg_int(info, 2));
  const int64_t n = arg_int(info, 3);
  Format f;
  LMF_CHECK(info.Env(), format_of(type, &f), "ggmlDequantize: unknown ggml type");
  LMF_CHECK(info.Env(), n % f.elements == 0, "ggmlDequantize: n is not a whole number of blocks");
  parallel_for(n / f.elements, 64, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) dequantize_block(type, b + i * f.bytes, y + i * f.elements);
  });
  return info.Env().Undefined();
}

}  // namespace

LMF_MODULE(ggml_blocks) {
  exports.Set("ggmlQuantize", Napi::Function::New(env, GgmlQuantize));
  exports.Set("ggmlDequantize", Napi::Function::New(env, GgmlDequantize));
}

}  // namespace lmf
