// Portable SIMD through GCC/Clang vector extensions. Vec<W> is W floats; a kernel body written once as an
// always_inline template over W is instantiated inside per-ISA wrappers:
//   __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void k_avx512(...) { body<16>(...); }
//   __attribute__((target("avx2,fma")))                            void k_avx2(...)   { body<8>(...); }
//   void k_portable(...) { body<4>(...); }   // SSE2 on x86-64, NEON on arm64
// The inlined body is compiled for the wrapper's ISA (zmm / ymm + FMA / xmm), so the binary never needs more
// than its baseline ISA and dispatch stays a run-time choice (core/cpu.h).
#pragma once
// Vec<W> values only pass between always_inline functions, never across a real call, so the ABI note is moot.
#pragma GCC diagnostic ignored "-Wpsabi"
#include <cstdint>
#include <cstring>
#include <utility>

#define LMF_INLINE inline __attribute__((always_inline))
#define LMF_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define LMF_TARGET_AVX2 __attribute__((target("avx2,fma")))

namespace lmf {

template <int W>
struct Vec {
  typedef float f __attribute__((vector_size(4 * W)));
  typedef int32_t i __attribute__((vector_size(4 * W)));
};

template <int W>
LMF_INLINE typename Vec<W>::f vload(const float* p) {
  typename Vec<W>::f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <int W>
LMF_INLINE void vstore(float* p, typename Vec<W>::f v) {
  std::memcpy(p, &v, sizeof v);
}
// Constants only. A vector built from a run-time value in this ISA-neutral code is lowered lane by lane before it
// is inlined into its target function (GCC 12 then emits W masked broadcasts); write `v * s`, `v - s` with a
// scalar s instead, which becomes one broadcast.
template <int W, int... Is>
LMF_INLINE typename Vec<W>::f vset_impl(float x, std::integer_sequence<int, Is...>) {
  return typename Vec<W>::f{((void)Is, x)...};
}
template <int W>
LMF_INLINE typename Vec<W>::f vset(float x) {
  return vset_impl<W>(x, std::make_integer_sequence<int, W>{});
}
template <int W>
LMF_INLINE typename Vec<W>::f vmax(typename Vec<W>::f a, typename Vec<W>::f b) {
  return a > b ? a : b;
}
// Horizontal sum and max as a tree over halves (log2 W dependent steps; a lane-by-lane chain was 4x longer and
// dominated attention's per-row softmax). The order is fixed by W alone, so results never depend on threads.
template <int W>
LMF_INLINE float hsum(typename Vec<W>::f v) {
  if constexpr (W == 1) {
    return v[0];
  } else {
    typename Vec<W / 2>::f lo, hi;
    std::memcpy(&lo, &v, sizeof lo);
    std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof lo, sizeof hi);
    return hsum<W / 2>(lo + hi);
  }
}
template <int W>
LMF_INLINE float hmax(typename Vec<W>::f v) {
  if constexpr (W == 1) {
    return v[0];
  } else {
    typename Vec<W / 2>::f lo, hi;
    std::memcpy(&lo, &v, sizeof lo);
    std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof lo, sizeof hi);
    return hmax<W / 2>(lo > hi ? lo : hi);
  }
}

// exp(x) for every lane, ~1 ulp on the range softmax uses (x <= 0). Cephes' expf: x = n ln2 + r with
// |r| <= ln2 / 2, a degree-6 polynomial for e^r, 2^n built in the exponent bits. x below -87.3 (including -inf,
// the value masked scores carry) gives exactly 0; x is clamped at 88 above.
template <int W>
LMF_INLINE typename Vec<W>::f vexp(typename Vec<W>::f x) {
  using vf = typename Vec<W>::f;
  using vi = typename Vec<W>::i;
  const vf lo = vset<W>(-87.33654f);
  const vf hi = vset<W>(88.0f);
  vf xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  // Round x * log2(e) to nearest with the 1.5 * 2^23 trick: the integer lands in the low mantissa bits of t.
  const vf magic = vset<W>(12582912.0f);
  vf t = xc * vset<W>(1.44269504088896341f) + magic;
  vf n = t - magic;
  vf r = xc - n * vset<W>(0.693359375f);
  r = r - n * vset<W>(-2.12194440e-4f);
  vf p = vset<W>(1.9875691500e-4f);
  p = p * r + vset<W>(1.3981999507e-3f);
  p = p * r + vset<W>(8.3334519073e-3f);
  p = p * r + vset<W>(4.1665795894e-2f);
  p = p * r + vset<W>(1.6666665459e-1f);
  p = p * r + vset<W>(5.0000001201e-1f);
  p = p * (r * r) + r + vset<W>(1.0f);
  vi ni;
  std::memcpy(&ni, &t, sizeof ni);
  ni = (ni - 0x4B400000 + 127) << 23;
  vf pow2;
  std::memcpy(&pow2, &ni, sizeof pow2);
  vf y = p * pow2;
  return x < lo ? vf{} : y;
}

}  // namespace lmf
