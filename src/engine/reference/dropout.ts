/** Float64 reference for dropout (tests only): the kept-mask rule of native/src/kernels/dropout.cc. */
import { philoxWordsRef } from './random.js';

/** 1 where element i is kept, 0 where dropped. */
export function dropoutMaskRef(n: number, p: number, seed: number, offset: number): Float64Array {
  const threshold = Math.ceil(p * 2 ** 24);
  return philoxWordsRef(seed, offset, n).map((w) => (Math.floor(w / 256) >= threshold ? 1 : 0));
}

/** x * mask / (1 - p); the backward is the same map applied to the output gradient. */
export function dropoutRef(x: Float64Array, p: number, seed: number, offset: number): Float64Array {
  const mask = dropoutMaskRef(x.length, p, seed, offset);
  const scale = p >= 1 ? 0 : 1 / (1 - p);
  return x.map((v, i) => (mask[i] as number) * v * scale);
}
