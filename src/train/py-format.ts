import { type PyJson, pyFloat, pythonJsonDumps } from '../util/python-json.js';

/**
 * Python's number and JSON formatting, so the files we write read exactly like the ones LLaMA-Factory and HF write
 * (`5e-05` not `0.00005`, `3.0` not `3`, `0:01:05` times, json.dumps separators).
 */

/** round(x, ndigits) as Python does it: on the exact binary value, exact ties to even. */
export function pyRound(x: number, ndigits: number): number {
  if (!Number.isFinite(x)) return x;
  // toFixed rounds exact ties upwards; an exact tie shows as 5 then zeros in the exact decimal expansion.
  const exact = Math.abs(x).toFixed(Math.min(100, ndigits + 60));
  const cut = exact.indexOf('.') + 1 + ndigits;
  const kept = exact.slice(0, cut);
  if (/^50*$/.test(exact.slice(cut)) && Number(kept.replace('.', '').slice(-1)) % 2 === 0) {
    return (x < 0 ? -1 : 1) * Number(kept);
  }
  return Number(x.toFixed(ndigits));
}

/** str(timedelta(seconds=n)): "H:MM:SS", with "N day(s), " in front past 24 hours. */
export function formatTimedelta(seconds: number): string {
  const total = Math.max(0, Math.trunc(seconds));
  const days = Math.floor(total / 86400);
  const rem = total % 86400;
  const h = Math.floor(rem / 3600);
  const m = Math.floor((rem % 3600) / 60);
  const s = rem % 60;
  const hms = `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return days > 0 ? `${days} day${days === 1 ? '' : 's'}, ${hms}` : hms;
}

export interface PyJsonOptions {
  /** json.dumps(indent=...): undefined writes one line with ", " and ": " separators. */
  indent?: number;
  sortKeys?: boolean;
  /** Keys whose numbers are Python ints; every other number is written as a Python float. */
  intKeys?: ReadonlySet<string>;
}

/**
 * json.dumps(value, ensure_ascii=True) of a record whose Python types are known by key: JavaScript numbers carry no
 * int/float distinction, so numbers are floats (`3.0`) unless their key is in intKeys (`3`).
 */
export function pyJsonDumps(value: unknown, options: PyJsonOptions = {}): string {
  const { indent, sortKeys = false, intKeys = new Set<string>() } = options;
  const typed = (v: unknown, key: string | undefined): PyJson => {
    if (v === null || v === undefined) return null;
    if (typeof v === 'number') return key !== undefined && intKeys.has(key) && Number.isInteger(v) ? v : pyFloat(v);
    if (typeof v === 'boolean' || typeof v === 'string') return v;
    if (Array.isArray(v)) return v.map((x) => typed(x, key));
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, typed(x, k)]),
    );
  };
  return pythonJsonDumps(typed(value, undefined), { indent, sortKeys });
}
