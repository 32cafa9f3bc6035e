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
