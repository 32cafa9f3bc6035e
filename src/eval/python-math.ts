/**
 * The few Python/numpy float operations whose exact results LLaMA-Factory's numbers depend on: `round(x, nd)`
 * (correctly rounded, ties to even on the double's exact value), `math.fsum` (exact sum, rounded once) and
 * `np.mean` of a float64 vector (numpy's pairwise summation, then one division).
 */

/** Python's `round(x, ndigits)` for 0 <= ndigits <= 20. */
export function pythonRound(x: number, ndigits: number): number {
  if (!Number.isFinite(x)) return x;
  // toFixed rounds the exact binary value, ties away from zero; Python rounds ties to even. A tie at `ndigits`
  // shows as "...d5000..." in enough digits (a double near a tie differs from it within 30 places).
  const exact = x.toFixed(Math.min(100, ndigits + 30));
  const tie = new RegExp(`^-?\\d+\\.\\d{${ndigits}}50*$`).test(exact);
  if (!tie) return Number(x.toFixed(ndigits));
  const truncated = exact.slice(0, exact.indexOf('.') + ndigits + 1);
  const lastDigit = Number(truncated.at(-1) === '.' ? truncated.at(-2) : truncated.at(-1));
  if (lastDigit % 2 === 0) return Number(truncated);
  const step = 10 ** -ndigits;
  return Number((Number(truncated) + Math.sign(x) * step).toFixed(ndigits));
}

/** Python's `math.fsum` (Shewchuk's exact partials, then the half-way correction CPython applies). */
export function fsum(values: Iterable<number>): number {
  const partials: number[] = [];
  for (let x of values) {
    let i = 0;
    for (let y of partials) {
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) partials[i++] = lo;
      x = hi;
    }
    partials.length = i;
    partials.push(x);
  }
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n]!;
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n]!;
    hi = x + y;
    lo = y - (hi - x);
    if (lo !== 0) break;
  }
  if (n > 0 && ((lo < 0 && partials[n - 1]! < 0) || (lo > 0 && partials[n - 1]! > 0))) {
    const y = lo * 2;
    const x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}

/** numpy's pairwise sum of a contiguous float64 vector (blocks of 128, 8 accumulators). */
export function numpySum(a: readonly number[], start = 0, n = a.length): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i]!;
    return res;
  }
  if (n <= 128) {
    const r = a.slice(start, start + 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j]! += a[start + i + j]!;
    let res = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return numpySum(a, start, n2) + numpySum(a, start + n2, n - n2);
}

/** `float(np.mean(values))`; NaN for an empty list, as numpy (with a warning) gives. */
export function numpyMean(values: readonly number[]): number {
  return numpySum(values) / values.length;
}
