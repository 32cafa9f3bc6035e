/** Float64 references of the whole-tensor reductions (tests only). */
export function sumAllRef(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] as number;
  return s;
}

export function meanAllRef(x: ArrayLike<number>): number {
  return sumAllRef(x) / x.length;
}
