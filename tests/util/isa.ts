/** Runs a check on every SIMD path this CPU has (portable always), restoring the previous cap afterwards. */
import { native } from '../../src/engine/native.js';

export type IsaName = 'portable' | 'avx2' | 'avx512';

/** The ISA paths the kernels can take on this machine, lowest first. */
export function availableIsas(): IsaName[] {
  const prev = currentCap();
  native.setIsa('avx512');
  const top = native.isa();
  native.setIsa(prev);
  return top === 'avx512' ? ['portable', 'avx2', 'avx512'] : top === 'avx2' ? ['portable', 'avx2'] : ['portable'];
}

/** The cap that restores the current state: avx512bf16 when the bf16 instructions are on. */
function currentCap(): IsaName | 'avx512bf16' {
  return native.bf16Instructions() ? 'avx512bf16' : native.isa();
}

export function withIsa<T>(isa: IsaName, fn: () => T): T {
  const prev = currentCap();
  const got = native.setIsa(isa);
  try {
    if (got !== isa) throw new Error(`setIsa(${isa}) gave ${got}`);
    return fn();
  } finally {
    native.setIsa(prev);
  }
}

export type Bf16Cap = IsaName | 'avx512bf16';

/** Every path a bf16 product can take here: the widening one per ISA, and AVX512_BF16 when the CPU has it. */
export function bf16Caps(): Bf16Cap[] {
  const out: Bf16Cap[] = availableIsas();
  if (native.cpuFeatures().avx512Bf16 && out.includes('avx512')) out.push('avx512bf16');
  return out;
}

/** withIsa for a bf16 cap: avx512bf16 also turns the AVX512_BF16 instructions on. */
export function withBf16Cap<T>(cap: Bf16Cap, fn: () => T): T {
  const prev = currentCap();
  native.setIsa(cap);
  try {
    if (native.bf16Instructions() !== (cap === 'avx512bf16'))
      throw new Error(`setIsa(${cap}): bf16 instructions wrong`);
    return fn();
  } finally {
    native.setIsa(prev);
  }
}
