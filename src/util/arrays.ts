/**
 * Array helpers that stay safe at any length. `a.push(...b)` and `Math.max(...b)` pass every element as a call
 * argument, and V8 throws `RangeError: Maximum call stack size exceeded` past roughly 120k of them: one long
 * record (a 2 MB text is ~500k tokens) crashed preprocessing that way. Use these on every path that touches
 * token ids, records or log rows.
 */

/** Appends every element of each source to target, in order; returns target. */
export function pushAll<T>(target: T[], ...sources: readonly (readonly T[])[]): T[] {
  for (const source of sources) for (let i = 0; i < source.length; i++) target.push(source[i] as T);
  return target;
}

/** The largest value, or `empty` for an empty array. */
export function maxOf(values: readonly number[], empty = Number.NEGATIVE_INFINITY): number {
  if (values.length === 0) return empty;
  let best = values[0] as number;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > best) best = values[i] as number;
  return best;
}

/** The smallest value, or `empty` for an empty array. */
export function minOf(values: readonly number[], empty = Number.POSITIVE_INFINITY): number {
  if (values.length === 0) return empty;
  let best = values[0] as number;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) < best) best = values[i] as number;
  return best;
}
