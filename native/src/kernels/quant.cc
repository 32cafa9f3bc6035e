// Frozen weights stored as bitsandbytes stores them, and the products that read them without a full f32 copy.
//
// Formats (W is an nn.Linear weight [rows = out, cols = in], quantized over its row-major flattening):
//   nf4 / fp4: 4-bit indices into a 16-value code book, two per byte (the first element in the high nibble), one
//              absmax per block of `blocksize` (64) elements; w = code[index] * absmax[block]. With double
//              quantization the absmax are themselves stored as 8-bit indices into the 256-value dynamic map, one
//              f32 scale per 256 of them, offset by their mean: absmax = code8[q] * nested_absmax[b / 256] + offset.
//   int8:      LLM.int8()'s weight storage: int8 [rows, cols] and the row absmax SCB; w = q * SCB[row] / 127.
//
// Products: y = x @ W^T (+ bias) and dx = dy @ W. Few rows (decoding) stream the quantized bytes through the fused
// product of quant_gemv.cc (layouts it lacks: each output row of W decoded once into a thread's buffer and dotted
// with every x row; under bf16 compute both rounded to bf16 first, as the tiles are). Otherwise W is decoded tile by tile (a few MB of f32 rows) and each tile goes through the
// blocked GEMM, in bf16 mixed precision when asked (the compute dtype bitsandbytes dequantizes to). Every output is
// summed in an order that does not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/cpu.h"
#include "core/dtype.h"
#include "core/napi_util.h"
#include "core/registry.h"
#include "core/threadpool.h"
#include "kernels/decoded_tiles.h"
#include "kernels/gemm.h"
#include "kernels/isa_targets.h"
#include "kernels/quant_matrix.h"

namespace lmf {
namespace {

typedef float V8f __attribute__((vector_size(32)));
typedef uint32_t V8u __attribute__((vector_size(32)));

// Rows [r0, r1) of W as f32 into dst (row stride cols).
LMF_INLINE void dequant_rows_body(const QMatrix* qp, int64_t r0, int64_t r1, float* __restrict dst) {
  const QMatrix& q = *qp;
  if (q.type == kInt8) {
    const int8_t* data = reinterpret_cast<const int8_t*>(q.data);
    for (int64_t r = r0; r < r1; ++r) {
      const float s = q.scb[r] * (1.f / 127.f);
      const int8_t* src = data + r * q.cols;
      float* d = dst + (r - r0) * q.cols;
      for (int64_t k = 0; k < q.cols; ++k) d[k] = static_cast<float>(src[k]) * s;
    }
    return;
  }
  const float* code = q.code;
  const int64_t end = r1 * q.cols;
  int64_t i = r0 * q.cols;
  float* d = dst;
  // An odd start: the low nibble of the byte the previous row began.
  while (i < end) {
    const int64_t block = i / q.blocksize;
    const int64_t stop = std::min(end, (block + 1) * q.blocksize);
    const float s = block_scale(q, block);
    if (i & 1) {
      *d++ = code[q.data[i >> 1] & 15] * s;
      ++i;
    }
    const int64_t pairs = (stop - i) >> 1;
    const uint8_t* src = q.data + (i >> 1);
    int64_t j = 0;
    // 4 bytes -> 8 values at a time: the nibbles as lane indices into the 16-value code (a two-register permute on
    // AVX2/AVX-512), the same products as the scalar tail.
    const V8f lo = {code[0], code[1], code[2], code[3], code[4], code[5], code[6], code[7]};
    const V8f hi = {code[8], code[9], code[10], code[11], code[12], code[13], code[14], code[15]};
    const V8u shifts = {4, 0, 12, 8, 20, 16, 28, 24};
    for (; j + 4 <= pairs; j += 4) {
      uint32_t u;
      std::memcpy(&u, src + j, 4);
      const V8u idx = ((V8u{} + u) >> shifts) & 15u;
      const V8f v = __builtin_shuffle(lo, hi, idx) * s;
      std::memcpy(d + 2 * j, &v, sizeof v);
    }
    for (; j < pairs; ++j) {
      const uint8_t b = src[j];
      d[2 * j] = code[b >> 4] * s;
      d[2 * j + 1] = code[b & 15] * s;
    }
    d += 2 * pairs;
    i += 2 * pairs;
    if (i < stop) {  // an odd end: the high nibble
      *d++ = code[q.data[i >> 1] >> 4] * s;
      ++i;
    }
  }
}
LMF_DISPATCH(dequant_rows, dequant_rows_body, (const QMatrix* q, int64_t r0, int64_t r1, float* dst),
             (q, r0, r1, dst))

// sum_k a[k] * b[k] in 16 fixed lanes (vectorized per ISA; the same order on every thread).
LMF_INLINE float dot_body(const float* __restrict a, const float* __restrict b, int64_t n) {
  float lanes[16] = {0};
  int64_t k = 0;
  for (; k + 16 <= n; k += 16)
    for (int l = 0; l < 16; ++l) lanes[l] += a[k + l] * b[k + l];
  for (int l = 0; k < n; ++k, ++l) lanes[l] += a[k] * b[k];
  float s = 0.f;
  for (int l = 0; l < 16; ++l) s += lanes[l];
  return s;
}
static float dot_portable(const float* a, const float* b, int64_t n) { return dot_body(a, b, n); }
LMF_TARGET_AVX2 static float dot_avx2(const float* a, const float* b, int64_t n) { return dot_body(a, b, n); }
LMF_TARGET_AVX512 static float dot_avx512(const float* a, const float* b, int64_t n) { return dot_body(a, b, n); }
using DotFn = float (*)(const float*, const float*, int64_t);
DotFn dot_for_isa() {
  switch (isa()) {
    case Isa::avx512: return dot_avx512;
    case Isa::avx2: return dot_avx2;
    default: return dot_portable;
  }
}

// Rows of an x with at most this many rows take the streaming path.
constexpr int64_t kStreamRows = kQgemvMaxRows;

void decode_tile(const QMatrix& q, int64_t n0, int64_t nn, float* tile) {
  parallel_for(nn, 4, [&](int64_t b, int64_t e) { dequant_rows(&q, n0 + b, n0 + e, tile + b * q.cols); });
}

// y [m, rows] = x [m, cols] @ W^T (+ bias).
void qlinear_forward(const QMatrix& q, const float* x, int64_t m, const float* bias, float* y, bool bf16) {
  const int64_t N = q.rows, K = q.cols;
  if (m <= kStreamRows && qgemv(q, x, m, bias, y, bf16)) return;
  if (m <= kStreamRows) {
    DotFn dot = dot_for_isa();
    // bf16 compute: both operands rounded to bf16 as the tiles' GEMM does (their products are exact in f32)
    std::vector<float> x_bf16;
    if (bf16) {
      x_bf16.resize(m * K);
      for (int64_t i = 0; i < m * K; ++i) x_bf16[i] = bf16_to_f32(f32_to_bf16(x[i]));
      x = x_bf16.data();
    }
    parallel_for(N, 8, [&](int64_t b, int64_t e) {
      thread_local std::vector<float> row;
      if (static_cast<int64_t>(row.size()) < K) row.resize(K);
      for (int64_t r = b; r < e; ++r) {
        dequant_rows(&q, r, r + 1, row.data());
        if (bf16)
          for (int64_t k = 0; k < K; ++k) row[k] = bf16_to_f32(f32_to_bf16(row[k]));
        for (int64_t i = 0; i < m; ++i) y[i * N + r] = dot(x + i * K, row.data(), K) + (bias ? bias[r] : 0.f);
      }
    });
    return;
  }
  tiled_linear_forward(
      N, K, [&](int64_t n0, int64_t nn, float* tile) { decode_tile(q, n0, nn, tile); }, x, m, bias, y, bf16);
}

// dx [m, cols] = dy [m, rows] @ W, summed over row tiles in order.
void qlinear_backward_input(const QMatrix& q, const float* dy, int64_t m, float* dx, bool bf16) {
  tiled_linear_backward_input(
      q.rows, q.cols, [&](int64_t n0, int64_t nn, float* tile) { decode_tile(q, n0, nn, tile); }, dy, m, dx, bf16);
}

// ---- quantization -------------------------------------------------------------------------------------------

float load_f32(const void* p, DType d, int64_t i) {
  switch (d) {
    case DType::bf16: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::f16: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

// bitsandbytes' NF4 rounding: the nearest code value, a value on a midpoint going up.
uint8_t nearest_nf4(float x, const float* code) {
  uint8_t idx = 0;
  for (int i = 1; i < 16; ++i)
    if (x > 0.5f * (code[i - 1] + code[i])) idx = static_cast<uint8_t>(i);
  return idx;
}

// bitsandbytes' FP4 rounding: the magnitude to the nearest of the 8 non-negative codes, then the sign bit (so a
// small negative value becomes -0, index 8).
uint8_t nearest_fp4(float x, const float* code) {
  const uint8_t sign = x < 0.f ? 8 : 0;
  const float a = std::fabs(x);
  // the non-negative codes in increasing order, by index
  static const int order[8] = {0, 1, 6, 7, 4, 5, 2, 3};
  int idx = order[0];
  for (int i = 1; i < 8; ++i)
    if (a > 0.5f * (code[order[i - 1]] + code[order[i]])) idx = order[i];
  return static_cast<uint8_t>(idx | sign);
}

// quantize4bit(src, srcDtype, n, type, blocksize, code[16], packed, absmax): blocks in parallel.
Napi::Value Quantize4bit(const Napi::CallbackInfo& info) {
  const void* src = arg_ptr<void>(info, 0);
  const DType sd = static_cast<DType>(arg_int(info, 1));
  const int64_t n = arg_int(info, 2);
  const int type = static_cast<int>(arg_int(info, 3));
  const int64_t bs = arg_int(info, 4);
  const float* code = arg_ptr<float>(info, 5);
  uint8_t* packed = arg_ptr<uint8_t>(info, 6);
  float* absmax = arg_ptr<float>(info, 7);
  LMF_CHECK(info.Env(), bs >= 2 && bs % 2 == 0, "quantize4bit: blocksize must be even");
  const int64_t blocks = (n + bs - 1) / bs;
  parallel_for(blocks, 16, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * bs, i1 = std::min(n, i0 + bs);
      float amax = 0.f;
      for (int64_t i = i0; i < i1; ++i) amax = std::max(amax, std::fabs(load_f32(src, sd, i)));
      absmax[b] = amax;
      // bitsandbytes multiplies by the reciprocal; an all-zero block maps to the code's zero
      const float inv = amax > 0.f ? 1.f / amax : 0.f;
      for (int64_t i = i0; i < i1; i += 2) {
        const float v0 = load_f32(src, sd, i) * inv;
        const float v1 = i + 1 < i1 ? load_f32(src, sd, i + 1) * inv : 0.f;
        const uint8_t q0 = type == kNf4 ? nearest_nf4(v0, code) : nearest_fp4(v0, code);
        const uint8_t q1 = i + 1 < i1 ? (type == kNf4 ? nearest_nf4(v1, code) : nearest_fp4(v1, code)) : 0;
        packed[i >> 1] = static_cast<uint8_t>((q0 << 4) | q1);
      }
    }
  });
  return info.Env().Undefined();
}

// quantizeBlockwise8(x f32, n, code[256] sorted, blocksize, q, absmax): each block scaled by its absmax, then the
// nearest code value (bitsandbytes' quantize_blockwise, used for the double quantization of 4-bit scales).
Napi::Value QuantizeBlockwise8(const Napi::CallbackInfo& info) {
  const float* x = arg_ptr<float>(info, 0);
  const int64_t n = arg_int(info, 1);
  const float* code = arg_ptr<float>(info, 2);
  const int64_t bs = arg_int(info, 3);
  uint8_t* q = arg_ptr<uint8_t>(info, 4);
  float* absmax = arg_ptr<float>(info, 5);
  const int64_t blocks = (n + bs - 1) / bs;
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * bs, i1 = std::min(n, i0 + bs);
      float amax = 0.f;
      for (int64_t i = i0; i < i1; ++i) amax = std::max(amax, std::fabs(x[i]));
      absmax[b] = amax;
      const float inv = amax > 0.f ? 1.f / amax : 0.f;
      for (int64_t i = i0; i < i1; ++i) {
        const float v = x[i] * inv;
        const float* hi = std::lower_bound(code, code + 256, v);
        int64_t idx;
        if (hi == code) idx = 0;
        else if (hi == code + 256) idx = 255;
        else {
          const int64_t h = hi - code;
          idx = std::fabs(code[h - 1] - v) <= std::fabs(code[h] - v) ? h - 1 : h;
        }
        q[i] = static_cast<uint8_t>(idx);
      }
    }
  });
  return info.Env().Undefined();
}

// quantizeInt8Rows(src, srcDtype, rows, cols, q int8, scb f32): LLM.int8()'s row-wise absmax weight storage.
Napi::Value QuantizeInt8Rows(const Napi::CallbackInfo& info) {
  const void* src = arg_ptr<void>(info, 0);
  const DType sd = static_cast<DType>(arg_int(info, 1));
  const int64_t rows = arg_int(info, 2), cols = arg_int(info, 3);
  int8_t* q = arg_ptr<int8_t>(info, 4);
  float* scb = arg_ptr<float>(info, 5);
  parallel_for(rows, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float amax = 0.f;
      for (int64_t k = 0; k < cols; ++k) amax = std::max(amax, std::fabs(load_f32(src, sd, r * cols + k)));
      scb[r] = amax;
      const float s = amax > 0.f ? 127.f / amax : 0.f;
      for (int64_t k = 0; k < cols; ++k)
        q[r * cols + k] = static_cast<int8_t>(std::nearbyint(load_f32(src, sd, r * cols + k) * s));
    }
  });
  return info.Env().Undefined();
}

// The quantized matrix described by a JS object { type, rows, cols, blocksize, data, code?, absmax?, qabsmax?,
// nestedAbsmax?, nestedCode?, offset?, nestedBlocksize?, scb? } (storages for the buffers).
bool read_qmatrix(const Napi::Env& env, const Napi::Object& o, QMatrix& q) {
  auto num = [&](const char* k, double fallback) {
    Napi::Value v = o.Get(k);
    return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
  };
  auto ptr = [&](const char* k) -> void* {
    Napi::Value v = o.Get(k);
    if (v.IsNull() || v.IsUndefined()) return nullptr;
    return v.As<Napi::External<Storage>>().Data()->data;
  };
  q.type = static_cast<int>(num("type", 0));
  q.rows = static_cast<int64_t>(num("rows", 0));
  q.cols = static_cast<int64_t>(num("cols", 0));
  q.blocksize = static_cast<int64_t>(num("blocksize", 64));
  q.offset = static_cast<float>(num("offset", 0));
  q.nested_blocksize = static_cast<int64_t>(num("nestedBlocksize", 256));
  q.data = static_cast<const uint8_t*>(ptr("data"));
  q.code = static_cast<const float*>(ptr("code"));
  q.absmax = static_cast<const float*>(ptr("absmax"));
  q.qabsmax = static_cast<const uint8_t*>(ptr("qabsmax"));
  q.nested_absmax = static_cast<const float*>(ptr("nestedAbsmax"));
  q.nested_code = static_cast<const float*>(ptr("nestedCode"));
  q.scb = static_cast<const float*>(ptr("scb"));
  const bool four = q.type == kNf4 || q.type == kFp4;
  const bool scales = q.absmax || (q.qabsmax && q.nested_absmax && q.nested_code);
  if (!q.data || q.rows <= 0 || q.cols <= 0 || (four && (!q.code || !scales || q.blocksize < 2)) ||
      (q.type == kInt8 && !q.scb) || q.type < 0 || q.type > 2) {
    Napi::Error::New(env, "quantized matrix: incomplete description").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// quantDequantize(q, dst f32 [rows, cols])
Napi::Value QuantDequantize(const Napi::CallbackInfo& info) {
  QMatrix q;
  if (!read_qmatrix(info.Env(), info[0].As<Napi::Object>(), q)) return info.Env().Undefined();
  float* dst = arg_ptr<float>(info, 1);
  decode_tile(q, 0, q.rows, dst);
  return info.Env().Undefined();
}

// quantLinear(q, x f32 [m, cols], m, bias f32 [rows] | null, y f32 [m, rows], bf16?): bf16 = mixed-precision tiles
Napi::Value QuantLinear(const Napi::CallbackInfo& info) {
  QMatrix q;
  if (!read_qmatrix(info.Env(), info[0].As<Napi::Object>(), q)) return info.Env().Undefined();
  const bool bf16 = info.Length() > 5 && info[5].ToBoolean().Value();
  qlinear_forward(q, arg_ptr<float>(info, 1), arg_int(info, 2), arg_opt_ptr<float>(info, 3), arg_ptr<float>(info, 4),
                  bf16);
  return info.Env().Undefined();
}

// quantLinearBackwardInput(q, dy f32 [m, rows], m, dx f32 [m, cols], bf16?)
Napi::Value QuantLinearBackwardInput(const Napi::CallbackInfo& info) {
  QMatrix q;
  if (!read_qmatrix(info.Env(), info[0].As<Napi::Object>(), q)) return info.Env().Undefined();
  const bool bf16 = info.Length() > 4 && info[4].ToBoolean().Value();
  qlinear_backward_input(q, arg_ptr<float>(info, 1), arg_int(info, 2), arg_ptr<float>(info, 3), bf16);
  return info.Env().Undefined();
}

}  // namespace

LMF_MODULE(quant) {
  exports.Set("quantize4bit", Napi::Function::New(env, Quantize4bit));
  exports.Set("quantizeBlockwise8", Napi::Function::New(env, QuantizeBlockwise8));
  exports.Set("quantizeInt8Rows", Napi::Function::New(env, QuantizeInt8Rows));
  exports.Set("quantDequantize", Napi::Function::New(env, QuantDequantize));
  exports.Set("quantLinear", Napi::Function::New(env, QuantLinear));
  exports.Set("quantLinearBackwardInput", Napi::Function::New(env, QuantLinearBackwardInput));
}

}  // namespace lmf
