// Function attributes for the SIMD paths. A kernel writes its inner loop once as an always-inline body in plain
// C++ (fixed-width lane arrays, no intrinsics) and wraps it in one function per target: the compiler vectorizes
// each copy for that ISA, and the binary still runs on any x86-64 (the caller picks a copy with isa()).
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#define LMF_HAS_X86_TARGETS 1
#define LMF_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define LMF_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#else
#define LMF_HAS_X86_TARGETS 0
#define LMF_TARGET_AVX2
#define LMF_TARGET_AVX512
#endif

#define LMF_INLINE inline __attribute__((always_inline))

// Defines NAME_portable, NAME_avx2, NAME_avx512 (each calling BODY with the same arguments) and NAME, which
// dispatches on isa(). PARAMS is the parenthesised parameter list, ARGS the parenthesised argument list.
#define LMF_DISPATCH(NAME, BODY, PARAMS, ARGS)                  \
  static void NAME##_portable PARAMS { BODY ARGS; }             \
  LMF_TARGET_AVX2 static void NAME##_avx2 PARAMS { BODY ARGS; } \
  LMF_TARGET_AVX512 static void NAME##_avx512 PARAMS { BODY ARGS; } \
  static void NAME PARAMS {                                     \
    switch (::lmf::isa()) {                                     \
      case ::lmf::Isa::avx512: NAME##_avx512 ARGS; return;      \
      case ::lmf::Isa::avx2: NAME##_avx2 ARGS; return;          \
      default: NAME##_portable ARGS; return;                    \
    }                                                           \
  }
