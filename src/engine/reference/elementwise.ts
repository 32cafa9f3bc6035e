/** Float64 references for the elementwise ops (tests only). */
export function addRef(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v + (b[i] as number));
}

export function mulRef(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v * (b[i] as number));
}

export function scaleRef(a: Float64Array, s: number): Float64Array {
  return a.map((v) => v * s);
}
