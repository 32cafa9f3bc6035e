/**
 * Python's number and JSON formatting, so the files we write read exactly like the ones LLaMA-Factory and HF write
 * (`5e-05` not `0.00005`, `3.0` not `3`, `0:01:05` times, json.dumps separators).
 */

/** repr(float): shortest round-trip digits; scientific when the decimal point sits beyond -4..16. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mant, expStr] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const decpt = Number(expStr) + 1; // x = 0.DIGITS * 10^decpt
  if (decpt <= -4 || decpt > 16) {
    const e = decpt - 1;
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

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

/** Python's json.dumps with ensure_ascii: the strings are escaped the same way, numbers typed by key. */
export function pyJsonDumps(value: unknown, options: PyJsonOptions = {}): string {
  const { indent, sortKeys = false, intKeys = new Set<string>() } = options;
  const itemSep = indent === undefined ? ', ' : ',';
  const encode = (v: unknown, key: string | undefined, level: number): string => {
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'number') {
      return key !== undefined && intKeys.has(key) && Number.isInteger(v) ? String(v) : pyFloatRepr(v);
    }
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'string') return encodeString(v);
    const pad = (l: number) => (indent === undefined ? '' : `\n${' '.repeat(indent * l)}`);
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      return `[${v.map((x) => pad(level + 1) + encode(x, key, level + 1)).join(itemSep)}${pad(level)}]`;
    }
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    if (sortKeys) entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (entries.length === 0) return '{}';
    const body = entries.map(([k, x]) => `${pad(level + 1)}${encodeString(k)}: ${encode(x, k, level + 1)}`);
    return `{${body.join(itemSep)}${pad(level)}}`;
  };
  return encode(value, undefined, 0);
}

function encodeString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || c > 0x7e) {
      // Astral characters become a surrogate pair, as Python writes them.
      for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return `${out}"`;
}
