/** Storage dtypes. f32 is the compute type; bf16/f16 store frozen weights; i32 holds token ids and labels. */
export type DType = 'f32' | 'bf16' | 'f16' | 'i32';

/** Codes shared with native/src/core/dtype.h. */
export const DTYPE_CODE: Record<DType, number> = { f32: 0, bf16: 1, f16: 2, i32: 3 };

export const DTYPE_BYTES: Record<DType, number> = { f32: 4, bf16: 2, f16: 2, i32: 4 };

export const DTYPES: readonly DType[] = ['f32', 'bf16', 'f16', 'i32'];

export function isDType(s: string): s is DType {
  return (DTYPES as readonly string[]).includes(s);
}
