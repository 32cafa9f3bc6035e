/**
 * The native addon (native/, built by `npm install` into build/Release/lmforge.node) and its typed surface.
 * Only src/engine talks to it; everything above goes through Tensor and the ops.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An opaque handle to a native block (External<Storage>). */
export type NativeStorage = { readonly __nativeStorage: unique symbol };

/** Functions every native source registers; kernel files add theirs to this interface where they are bound. */
export interface NativeAddon {
  alloc(bytes: number, zero: boolean): NativeStorage;
  free(s: NativeStorage): void;
  write(s: NativeStorage, byteOffset: number, src: ArrayBufferView): void;
  read(s: NativeStorage, byteOffset: number, dst: ArrayBufferView): void;
  copy(src: NativeStorage, srcByteOffset: number, dst: NativeStorage, dstByteOffset: number, bytes: number): void;
  liveBytes(): number;
  liveBlocks(): number;
  cachedBytes(): number;
  emptyCache(): void;
  setCacheLimit(bytes: number): void;
  setThreads(n: number): void;
  getThreads(): number;
  physicalCores(): number;
  isa(): 'portable' | 'avx2' | 'avx512';
  setIsa(cap: 'portable' | 'avx2' | 'avx512'): string;
  cpuFeatures(): { avx2Fma: boolean; avx512: boolean; f16c: boolean; avx512Bf16: boolean };
  convert(src: NativeStorage, srcDtype: number, dst: NativeStorage, dstDtype: number, n: number): void;
  // biome-ignore lint/suspicious/noExplicitAny: kernels are typed where they are wrapped (src/engine/ops/*)
  [kernel: string]: any;
}

function loadAddon(): NativeAddon {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const candidates = [join(root, 'build', 'Release', 'lmforge.node'), join(root, 'build', 'Debug', 'lmforge.node')];
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new Error(
      `lmforge's native engine is not built (looked for ${candidates[0]}). Run \`npm install\` (or \`npm run build:native\`) in ${root}; it needs python3, make and g++.`,
    );
  }
  return createRequire(import.meta.url)(path) as NativeAddon;
}

export const native: NativeAddon = loadAddon();
