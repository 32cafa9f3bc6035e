import { getThreads, isa, liveBytes, native, physicalCores } from '../engine/index.js';

export async function envCommand(_args: string[]): Promise<number> {
  const f = native.cpuFeatures();
  console.log(`lmforge engine
  instruction set   ${isa()} (cpu: avx2+fma ${f.avx2Fma}, avx512 ${f.avx512}, f16c ${f.f16c}, avx512-bf16 ${f.avx512Bf16})
  threads           ${getThreads()} (physical cores ${physicalCores()}; set with --threads or LMFORGE_THREADS)
  native memory     ${liveBytes()} bytes live
  node              ${process.version}`);
  return 0;
}
