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
  /** Caps the ISA; avx512bf16 (the default) also allows AVX512_BF16 for bf16 GEMMs, avx512 and below do not. */
  setIsa(cap: 'portable' | 'avx2' | 'avx512' | 'avx512bf16'): string;
  /** Whether bf16 GEMMs run on AVX512_BF16 (else on f32 kernels over bf16-rounded operands). */
  bf16Instructions(): boolean;
  cpuFeatures(): { avx2Fma: boolean; avx512: boolean; f16c: boolean; avx512Bf16: boolean };
  convert(src: NativeStorage, srcDtype: number, dst: NativeStorage, dstDtype: number, n: number): void;
  // biome-ignore lint/suspicious/noExplicitAny: kernels are typed where they are wrapped (src/engine/ops/*)
  [kernel: string]: any;
}

/** The CLI prints a userFacing error as one line: these say what to run, a stack would add nothing. */
function notLoadable(message: string): Error {
  return Object.assign(new Error(message), { userFacing: true });
}

function loadAddon(): NativeAddon {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  // The packed package's prebuilt binary comes last: the install script normally copies it into build/Release, but
  // where install scripts were skipped (--ignore-scripts, an npm that blocks them) it is all there is.
  const candidates = [
    join(root, 'build', 'Release', 'lmforge.node'),
    join(root, 'build', 'Debug', 'lmforge.node'),
    join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'lmforge.node'),
  ];
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw notLoadable(
      `lmforge's native engine is not built (looked for ${candidates[0]}). Run \`npm install\` (or \`npm run build:native\`) in ${root}; it needs python3, make and g++.`,
    );
  }
  try {
    return createRequire(import.meta.url)(path) as NativeAddon;
  } catch (e) {
    if (path !== candidates[2]) throw e;
    throw notLoadable(
      `lmforge's prebuilt native engine ${path} does not load here (${(e as Error).message.split('\n')[0]}). Build it from source with \`npm rebuild lmforge\` (it needs python3, make and g++).`,
    );
  }
}

export const native: NativeAddon = loadAddon();
