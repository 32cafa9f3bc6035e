// Runtime instruction-set dispatch. Kernels compile their fast paths with __attribute__((target(...))) and pick
// them by these flags at run time, so one binary runs on any x86-64 (and the portable path everywhere else).
// LMFORGE_ISA=portable|avx2|avx512|avx512bf16 caps the level (tests use it to exercise every path on one machine);
// avx512 (or lower) also turns off the AVX512_BF16 instructions, so bf16 GEMMs take the widening path.
#pragma once

namespace lmf {

enum class Isa { portable = 0, avx2 = 1, avx512 = 2 };

struct CpuFeatures {
  bool avx2_fma = false;  // AVX2 + FMA3
  bool avx512 = false;    // AVX-512 F + BW + VL + DQ
  bool f16c = false;
  bool avx512_bf16 = false;
};

const CpuFeatures& cpu_features();  // what the CPU supports
Isa isa();                          // the level kernels should use: min(CPU, LMFORGE_ISA cap, set_isa cap)
void set_isa(Isa cap);
bool bf16_instructions();  // AVX512_BF16 usable: the CPU has it and the cap is avx512bf16 (the default)
const char* isa_name(Isa isa);

}  // namespace lmf
