// Products with a frozen weight kept in ggml's block formats (a GGUF base: Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K,
// Q6_K; layouts in ggml_blocks.cc), read with integer dot products as llama.cpp reads them.
//
// W [rows = out, cols = in] is stored row by row, each row a whole number of blocks. Every format is unpacked, one
// row at a time, into the same form: unsigned 8-bit levels u [cols] (signed for Q8_0) and, per 16 values g, a float
// scale S[g] and offset M[g] with w = S[g] * u - M[g]:
//   Q8_0  S = d, M = 0 (u signed)      Q4_0  S = d, M = 8 d      Q5_0  S = d, M = 16 d      Q5_1  S = d, M = -m
//   Q4_K  S = d sc, M = dmin mn         Q5_K  as Q4_K with 5-bit levels      Q6_K  S = d sc, M = 32 d sc
// Decoding (x with few rows): each x row is quantized to int8 in 32-value blocks (scale dx = amax / 127, as
// llama.cpp's q8 activation blocks), then per 16 values the integer dot sum(u * xq) comes from AVX-512 VNNI vpdpbusd
// or AVX2 vpmaddubsw, and y = sum_g dx[g] (S[g] dot[g] - M[g] sum(xq)[g]). On x86, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K and
// Q6_K skip the unpacked row: ggml_row_dots.h reads their packed bytes straight into the integer dot; Q5_K and the
// portable path unpack a row once for all x rows.
// More rows (prefill, training): W is dequantized tile by tile into the blocked GEMM, as the bitsandbytes formats are.
// Every output is summed in an order that does not depend on the thread count.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/cpu.h"
#include "core/dtype.h"
#include "core/napi_util.h"
#include "core/registry.h"
#include "core/storage.h"
#include "core/threadpool.h"
#include "kernels/decoded_tiles.h"
#include "kernels/gemm.h"
#include "kernels/ggml_row_dots.h"
#include "kernels/isa_targets.h"

namespace lmf {
namespace {

enum GgmlType : int { kQ4_0 = 2, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14 };

struct GgmlMatrix {
  int type = 0;
  int64_t rows = 0, cols = 0;
  int64_t block_elements = 0, block_bytes = 0;
  const uint8_t* data = nullptr;
  const uint8_t* row(int64_t r) const { return data + r * (cols / block_elements) * block_bytes; }
};

bool format_of(int type, int64_t* elements, int64_t* bytes) {
  switch (type) {
    case kQ4_0: *elements = 32, *bytes = 18; return true;
    case kQ5_0: *elements = 32, *bytes = 22; return true;
    case kQ5_1: *elements = 32, *bytes = 24; return true;
    case kQ8_0: *elements = 32, *bytes = 34; return true;
    case kQ4_K: *elements = 256, *bytes = 144; return true;
    case kQ5_K: *elements = 256, *bytes = 176; return true;
    case kQ6_K: *elements = 256, *bytes = 210; return true;
    default: return false;
  }
}

LMF_INLINE float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

// One row of W into levels u [cols] and per-16 S, M [cols / 16].
LMF_INLINE void unpack_row_body(const GgmlMatrix* wp, int64_t r, uint8_t* __restrict u, float* __restrict S,
                                float* __restrict M) {
  const GgmlMatrix& w = *wp;
  const uint8_t* b = w.row(r);
  const int64_t blocks = w.cols / w.block_elements;
  for (int64_t i = 0; i < blocks; ++i, b += w.block_bytes, u += w.block_elements, S += w.block_elements / 16,
               M += w.block_elements / 16) {
    switch (w.type) {
      case kQ8_0: {
        const float d = half_at(b);
        std::memcpy(u, b + 2, 32);
        S[0] = S[1] = d;
        M[0] = M[1] = 0.f;
        break;
      }
      case kQ4_0: {
        const float d = half_at(b);
        for (int j = 0; j < 16; ++j) {
          u[j] = b[2 + j] & 0xF;
          u[j + 16] = b[2 + j] >> 4;
        }
        S[0] = S[1] = d;
        M[0] = M[1] = 8.f * d;
        break;
      }
      case kQ5_0:
      case kQ5_1: {
        const bool q51 = w.type == kQ5_1;
        const float d = half_at(b), m = q51 ? half_at(b + 2) : 0.f;
        uint32_t qh;
        std::memcpy(&qh, b + (q51 ? 4 : 2), 4);
        const uint8_t* qs = b + (q51 ? 8 : 6);
        for (int j = 0; j < 16; ++j) {
          u[j] = (qs[j] & 0xF) | (((qh >> j) & 1) << 4);
          u[j + 16] = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
        }
        S[0] = S[1] = d;
        M[0] = M[1] = q51 ? -m : 16.f * d;
        break;
      }
      case kQ4_K:
      case kQ5_K: {
        const bool q5 = w.type == kQ5_K;
        const float d = half_at(b), dmin = half_at(b + 2);
        const uint8_t* scales = b + 4;
        const uint8_t* qh = b + 16;
        const uint8_t* q = b + (q5 ? 48 : 16);
        for (int k = 0; k < 4; ++k, q += 32) {
          uint8_t* lo = u + 64 * k;
          uint8_t* hi = lo + 32;
          for (int l = 0; l < 32; ++l) {
            lo[l] = q[l] & 0xF;
            hi[l] = q[l] >> 4;
          }
          if (q5)
            for (int l = 0; l < 32; ++l) {
              lo[l] |= ((qh[l] >> (2 * k)) & 1) << 4;
              hi[l] |= ((qh[l] >> (2 * k + 1)) & 1) << 4;
            }
          for (int h = 0; h < 2; ++h) {
            int sc, mn;
            q4k_scale_min(2 * k + h, scales, &sc, &mn);
            S[4 * k + 2 * h] = S[4 * k + 2 * h + 1] = d * sc;
            M[4 * k + 2 * h] = M[4 * k + 2 * h + 1] = dmin * mn;
          }
        }
        break;
      }
      case kQ6_K: {
        const float d = half_at(b + 208);
        const uint8_t* ql = b;
        const uint8_t* qh = b + 128;
        const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
        for (int n = 0; n < 2; ++n, ql += 64, qh += 32) {
          uint8_t* o = u + 128 * n;
          for (int l = 0; l < 32; ++l) {
            o[l] = (ql[l] & 0xF) | ((qh[l] & 3) << 4);
            o[l + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
            o[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
            o[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
          }
        }
        for (int g = 0; g < 16; ++g) {
          S[g] = d * sc[g];
          M[g] = 32.f * S[g];
        }
        break;
      }
    }
  }
}
LMF_DISPATCH(unpack_row, unpack_row_body,
             (const GgmlMatrix* w, int64_t r, uint8_t* u, float* S, float* M), (w, r, u, S, M))

// ---- integer dots: out[g] = sum over 16 values of u * xq (u signed for Q8_0) ----

void dots16_portable(const uint8_t* u, const int8_t* x, int64_t n, bool signed_u, int32_t* out) {
  for (int64_t g = 0; g < n / 16; ++g) {
    int32_t s = 0;
    for (int l = 0; l < 16; ++l) {
      const int a = signed_u ? static_cast<int8_t>(u[16 * g + l]) : u[16 * g + l];
      s += a * x[16 * g + l];
    }
    out[g] = s;
  }
}

#if LMF_HAS_X86_TARGETS
// 32 products summed in pairs of 4 into 8 int32 lanes. maddubs saturates int16 pairs, so signed levels go in as
// |u| with x carrying u's sign (|u| <= 128, |x| <= 127: no saturation); unsigned levels here are at most 63.
LMF_TARGET_AVX2 LMF_INLINE __m256i chunk_avx2(const uint8_t* u, const int8_t* x, bool signed_u) {
  __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u));
  __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  if (signed_u) {
    b = _mm256_sign_epi8(b, a);
    a = _mm256_abs_epi8(a);
  }
  return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

#define LMF_TARGET_VNNI __attribute__((target("avx512vnni,avx512vl,avx512f,avx512bw,avx2,fma")))
LMF_TARGET_VNNI LMF_INLINE __m256i chunk_vnni(const uint8_t* u, const int8_t* x, bool signed_u) {
  __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u));
  __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  if (signed_u) {
    b = _mm256_sign_epi8(b, a);
    a = _mm256_abs_epi8(a);
  }
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
}

#define LMF_DOTS16(NAME, TARGET, CHUNK)                                                                  \
  TARGET void NAME(const uint8_t* u, const int8_t* x, int64_t n, bool signed_u, int32_t* out) {          \
    int64_t k = 0;                                                                                      \
    for (; k + 128 <= n; k += 128, out += 8) {                                                          \
      const __m256i a = CHUNK(u + k, x + k, signed_u), b = CHUNK(u + k + 32, x + k + 32, signed_u);      \
      const __m256i c = CHUNK(u + k + 64, x + k + 64, signed_u), d = CHUNK(u + k + 96, x + k + 96, signed_u); \
      const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));             \
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),                                              \
                          _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));    \
    }                                                                                                   \
    for (; k < n; k += 32, out += 2) {                                                                  \
      alignas(32) int32_t lanes[8];                                                                     \
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), CHUNK(u + k, x + k, signed_u));              \
      out[0] = lanes[0] + lanes[1] + lanes[2] + lanes[3];                                               \
      out[1] = lanes[4] + lanes[5] + lanes[6] + lanes[7];                                               \
    }                                                                                                   \
  }
LMF_DOTS16(dots16_avx2, LMF_TARGET_AVX2, chunk_avx2)
LMF_DOTS16(dots16_vnni, LMF_TARGET_VNNI, chunk_vnni)
#endif

using DotsFn = void (*)(const uint8_t*, const int8_t*, int64_t, bool, int32_t*);

bool cpu_has_vnni() {
#if LMF_HAS_X86_TARGETS
  static const bool has = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
  return has;
#else
  return false;
#endif
}

// The integer-dot path for the current ISA cap: vpdpbusd under avx512 (when the CPU has VNNI), vpmaddubsw under
// avx2 (and avx512 without VNNI), scalar otherwise.
DotsFn dots16_for_isa() {
#if LMF_HAS_X86_TARGETS
  const Isa level = isa();
  if (level == Isa::avx512 && cpu_has_vnni()) return dots16_vnni;
  if (level >= Isa::avx2) return dots16_avx2;
#endif
  return dots16_portable;
}

// ---- activation rows as q8 blocks ----

struct QuantizedRow {
  std::vector<int8_t> q;       // [cols]
  std::vector<float> d;        // per 16 values: the 32-block's scale
  std::vector<int32_t> sums;   // per 16 values: sum of q
  std::vector<float> d32;      // per 32 values: the block's scale
  std::vector<float> ds32;     // per 32 values: scale * sum of q
  std::vector<float> ds16;     // per 16 values: scale * sum of q
  XBlocks blocks() const { return {q.data(), d32.data(), ds32.data(), ds16.data()}; }
};

void quantize_activation(const float* x, int64_t n, QuantizedRow& out) {
  out.q.resize(n), out.d.resize(n / 16), out.sums.resize(n / 16);
  out.d32.resize(n / 32), out.ds32.resize(n / 32), out.ds16.resize(n / 16);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = x + 32 * b;
    float amax = 0.f;
    for (int l = 0; l < 32; ++l) amax = std::max(amax, std::fabs(xb[l]));
    const float d = amax / 127.f, id = d > 0.f ? 1.f / d : 0.f;
    for (int h = 0; h < 2; ++h) {
      int32_t s = 0;
      for (int l = 16 * h; l < 16 * h + 16; ++l) {
        const int v = static_cast<int>(std::nearbyint(xb[l] * id));
        out.q[32 * b + l] = static_cast<int8_t>(v);
        s += v;
      }
      out.d[2 * b + h] = d;
      out.sums[2 * b + h] = s;
      out.ds16[2 * b + h] = d * static_cast<float>(s);
    }
    out.d32[b] = d;
    out.ds32[b] = d * static_cast<float>(out.sums[2 * b] + out.sums[2 * b + 1]);
  }
}

// The fused row dot (ggml_row_dots.h) for W's format under the current ISA cap, or null where decoding unpacks rows
// first (Q5_K, and the portable path).
using RowDotFn = float (*)(const uint8_t*, int64_t, const XBlocks&);
RowDotFn row_dot_for(int type) {
#if LMF_HAS_X86_TARGETS
  const Isa level = isa();
  if (level < Isa::avx2) return nullptr;
  const bool vnni = level == Isa::avx512 && cpu_has_vnni();
  switch (type) {
    case kQ8_0: return vnni ? q8_0_row_vnni : q8_0_row_avx2;
    case kQ4_0: return vnni ? q4_0_row_vnni : q4_0_row_avx2;
    case kQ5_0: return vnni ? q5_0_row_vnni : q5_0_row_avx2;
    case kQ5_1: return vnni ? q5_1_row_vnni : q5_1_row_avx2;
    case kQ4_K: return vnni ? q4_k_row_vnni : q4_k_row_avx2;
    case kQ6_K: return vnni ? q6_k_row_vnni : q6_k_row_avx2;
    default: return nullptr;
  }
#else
  (void)type;
  return nullptr;
#endif
}

// Rows of an x with at most this many rows take the integer-dot path.
constexpr int64_t kStreamRows = 8;

struct RowScratch {
  std::vector<uint8_t> u;
  std::vector<float> S, M;
  std::vector<int32_t> dots;
  void fit(int64_t cols) {
    if (static_cast<int64_t>(u.size()) < cols) u.resize(cols), S.resize(cols / 16), M.resize(cols / 16),
                                                dots.resize(cols / 16);
  }
};

// y [m, rows] = x [m, cols] @ W^T (+ bias), m <= kStreamRows.
void ggml_gemv(const GgmlMatrix& w, const float* x, int64_t m, const float* bias, float* y) {
  const int64_t N = w.rows, K = w.cols, G = K / 16;
  std::vector<QuantizedRow> xq(m);
  for (int64_t i = 0; i < m; ++i) quantize_activation(x + i * K, K, xq[i]);
  if (const RowDotFn row_dot = row_dot_for(w.type)) {
    std::vector<XBlocks> xb(m);
    for (int64_t i = 0; i < m; ++i) xb[i] = xq[i].blocks();
    const int64_t blocks = K / w.block_elements;
    parallel_for(N, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        for (int64_t i = 0; i < m; ++i) y[i * N + r] = row_dot(w.row(r), blocks, xb[i]) + (bias ? bias[r] : 0.f);
    });
    return;
  }
  const DotsFn dots16 = dots16_for_isa();
  const bool signed_u = w.type == kQ8_0;
  parallel_for(N, 8, [&](int64_t b, int64_t e) {
    thread_local RowScratch s;
    s.fit(K);
    for (int64_t r = b; r < e; ++r) {
      unpack_row(&w, r, s.u.data(), s.S.data(), s.M.data());
      for (int64_t i = 0; i < m; ++i) {
        dots16(s.u.data(), xq[i].q.data(), K, signed_u, s.dots.data());
        const float* d = xq[i].d.data();
        const int32_t* sums = xq[i].sums.data();
        float acc = 0.f;
        for (int64_t g = 0; g < G; ++g)
          acc += d[g] * (s.S[g] * static_cast<float>(s.dots[g]) - s.M[g] * static_cast<float>(sums[g]));
        y[i * N + r] = acc + (bias ? bias[r] : 0.f);
      }
    }
  });
}

// Levels u with per-16 S, M -> f32 values o [cols], in ggml_blocks.cc's arithmetic so the values are bit-equal to its
// dequantizer: S (u - offset), S u - M with mins, S u for Q8_0's signed levels. The branches sit outside the 16-value
// loops so each loop vectorizes for the ISA it is compiled for.
LMF_INLINE void levels_to_f32_body(const uint8_t* __restrict u, const float* __restrict S, const float* __restrict M,
                                   int64_t cols, int offset, bool signed_u, bool with_min, float* __restrict o) {
  const int64_t G = cols / 16;
  if (signed_u) {
    for (int64_t g = 0; g < G; ++g)
      for (int l = 0; l < 16; ++l)
        o[16 * g + l] = S[g] * static_cast<float>(static_cast<int8_t>(u[16 * g + l]));
  } else if (with_min) {
    for (int64_t g = 0; g < G; ++g)
      for (int l = 0; l < 16; ++l) o[16 * g + l] = S[g] * static_cast<float>(u[16 * g + l]) - M[g];
  } else {
    for (int64_t g = 0; g < G; ++g)
      for (int l = 0; l < 16; ++l) o[16 * g + l] = S[g] * static_cast<float>(u[16 * g + l] - offset);
  }
}
LMF_DISPATCH(levels_to_f32, levels_to_f32_body,
             (const uint8_t* u, const float* S, const float* M, int64_t cols, int offset, bool signed_u, bool with_min,
              float* o),
             (u, S, M, cols, offset, signed_u, with_min, o))

// Rows [r0, r1) of W as f32 (row stride cols).
void dequantize_rows(const GgmlMatrix& w, int64_t r0, int64_t r1, float* dst) {
  thread_local RowScratch s;
  s.fit(w.cols);
  // Q4_0 levels are offset by 8, Q5_0's by 16, Q6_K's by 32; Q5_1's min enters as S u + m (M = -m).
  const int offset = w.type == kQ4_0 ? 8 : w.type == kQ5_0 ? 16 : w.type == kQ6_K ? 32 : 0;
  const bool signed_u = w.type == kQ8_0, with_min = w.type == kQ4_K || w.type == kQ5_K || w.type == kQ5_1;
  for (int64_t r = r0; r < r1; ++r) {
    unpack_row(&w, r, s.u.data(), s.S.data(), s.M.data());
    levels_to_f32(s.u.data(), s.S.data(), s.M.data(), w.cols, offset, signed_u, with_min, dst + (r - r0) * w.cols);
  }
}

void decode_tile(const GgmlMatrix& w, int64_t n0, int64_t nn, float* tile) {
  parallel_for(nn, 4, [&](int64_t b, int64_t e) { dequantize_rows(w, n0 + b, n0 + e, tile + b * w.cols); });
}

void ggml_linear_forward(const GgmlMatrix& w, const float* x, int64_t m, const float* bias, float* y) {
  if (m <= kStreamRows) return ggml_gemv(w, x, m, bias, y);
  tiled_linear_forward(
      w.rows, w.cols, [&](int64_t n0, int64_t nn, float* tile) { decode_tile(w, n0, nn, tile); }, x, m, bias, y,
      false);
}

// dx [m, cols] = dy [m, rows] @ W, summed over row tiles in order.
void ggml_linear_backward_input(const GgmlMatrix& w, const float* dy, int64_t m, float* dx) {
  tiled_linear_backward_input(
      w.rows, w.cols, [&](int64_t n0, int64_t nn, float* tile) { decode_tile(w, n0, nn, tile); }, dy, m, dx, false);
}

// The matrix described by { ggmlType, rows, cols, data } (data: a storage of the row-major blocks).
bool read_ggml_matrix(const Napi::Env& env, const Napi::Object& o, GgmlMatrix& w) {
  auto num = [&](const char* k) {
    Napi::Value v = o.Get(k);
    return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : int64_t{-1};
  };
  w.type = static_cast<int>(num("ggmlType"));
  w.rows = num("rows");
  w.cols = num("cols");
  Napi::Value data = o.Get("data");
  const bool known = format_of(w.type, &w.block_elements, &w.block_bytes);
  if (!known || w.rows <= 0 || w.cols <= 0 || w.cols % w.block_elements != 0 || !data.IsExternal()) {
    Napi::Error::New(env, "ggml matrix: unknown type, or cols not a whole number of blocks, or no data")
        .ThrowAsJavaScriptException();
    return false;
  }
  Storage* s = data.As<Napi::External<Storage>>().Data();
  if (static_cast<int64_t>(s->bytes) < w.rows * (w.cols / w.block_elements) * w.block_bytes) {
    Napi::Error::New(env, "ggml matrix: the data storage is smaller than its blocks").ThrowAsJavaScriptException();
    return false;
  }
  w.data = static_cast<const uint8_t*>(s->data);
  return true;
}

// ggmlMatrixDequantize(w, dst f32 [rows, cols])
Napi::Value GgmlMatrixDequantize(const Napi::CallbackInfo& info) {
  GgmlMatrix w;
  if (!read_ggml_matrix(info.Env(), info[0].As<Napi::Object>(), w)) return info.Env().Undefined();
  decode_tile(w, 0, w.rows, arg_ptr<float>(info, 1));
  return info.Env().Undefined();
}

// ggmlLinear(w, x f32 [m, cols], m, bias f32 [rows] | null, y f32 [m, rows])
Napi::Value GgmlLinear(const Napi::CallbackInfo& info) {
  GgmlMatrix w;
  if (!read_ggml_matrix(info.Env(), info[0].As<Napi::Object>(), w)) return info.Env().Undefined();
  ggml_linear_forward(w, arg_ptr<float>(info, 1), arg_int(info, 2), arg_opt_ptr<float>(info, 3),
                      arg_ptr<float>(info, 4));
  return info.Env().Undefined();
}

// ggmlLinearBackwardInput(w, dy f32 [m, rows], m, dx f32 [m, cols])
Napi::Value GgmlLinearBackwardInput(const Napi::CallbackInfo& info) {
  GgmlMatrix w;
  if (!read_ggml_matrix(info.Env(), info[0].As<Napi::Object>(), w)) return info.Env().Undefined();
  ggml_linear_backward_input(w, arg_ptr<float>(info, 1), arg_int(info, 2), arg_ptr<float>(info, 3));
  return info.Env().Undefined();
}

// ggmlEmbedding(w, ids i32 [n], n, out f32 [n, cols]): out[i] = row ids[i] of W, dequantized (a GGUF file's
// token_embd kept in its blocks: a lookup decodes only the rows it reads).
Napi::Value GgmlEmbedding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  GgmlMatrix w;
  if (!read_ggml_matrix(env, info[0].As<Napi::Object>(), w)) return env.Undefined();
  const int32_t* ids = arg_ptr<int32_t>(info, 1);
  const int64_t n = arg_int(info, 2);
  float* out = arg_ptr<float>(info, 3);
  for (int64_t i = 0; i < n; ++i)
    LMF_CHECK(env, ids[i] >= 0 && ids[i] < w.rows,
              "embedding: token id " + std::to_string(ids[i]) + " at flat position " + std::to_string(i) +
                  " is out of range for a vocabulary of " + std::to_string(w.rows) +
                  " rows; the tokenizer and the GGUF file's token_embd disagree");
  parallel_for(n, 4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dequantize_rows(w, ids[i], ids[i] + 1, out + i * w.cols);
  });
  return env.Undefined();
}

// ggmlDotPath(): which integer-dot path decoding takes now ('vnni', 'avx2' or 'portable'; tests check the caps).
Napi::Value GgmlDotPath(const Napi::CallbackInfo& info) {
  const DotsFn f = dots16_for_isa();
#if LMF_HAS_X86_TARGETS
  if (f == dots16_vnni) return Napi::String::New(info.Env(), "vnni");
  if (f == dots16_avx2) return Napi::String::New(info.Env(), "avx2");
#endif
  (void)f;
  return Napi::String::New(info.Env(), "portable");
}

}  // namespace

LMF_MODULE(ggml_dot) {
  exports.Set("ggmlMatrixDequantize", Napi::Function::New(env, GgmlMatrixDequantize));
  exports.Set("ggmlLinear", Napi::Function::New(env, GgmlLinear));
  exports.Set("ggmlLinearBackwardInput", Napi::Function::New(env, GgmlLinearBackwardInput));
  exports.Set("ggmlEmbedding", Napi::Function::New(env, GgmlEmbedding));
  exports.Set("ggmlDotPath", Napi::Function::New(env, GgmlDotPath));
}

}  // namespace lmf
