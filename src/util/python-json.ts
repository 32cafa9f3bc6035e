/**
 * JSON text exactly as Python's `json.dumps(obj, indent=2, sort_keys=True)` writes it, which is how transformers
 * (config.json, generation_config.json, the shard index) and PEFT (adapter_config.json) save their files. It differs
 * from JSON.stringify in ways that matter for byte-identical files: floats keep a ".0" ("rope_theta": 10000.0) and
 * use Python's repr (1e-05, not 0.00001), non-ASCII is escaped (ensure_ascii), and ": " / "," separators.
 *
 * JavaScript numbers do not say whether they were floats, so a float that happens to be integral must be wrapped:
 * `pyFloat(8)` prints "8.0"; a plain integral number prints as an int.
 */

export class PyFloat {
  constructor(readonly value: number) {}
}

export function pyFloat(value: number): PyFloat {
  return new PyFloat(value);
}

export type PyJson = null | boolean | number | string | PyFloat | readonly PyJson[] | { readonly [k: string]: PyJson };

export interface DumpOptions {
  /** Spaces per level; undefined writes one line with ", " and ": " separators, as Python does. */
  indent?: number;
  sortKeys?: boolean;
  /** Python's ensure_ascii (default true): escape every non-ASCII character as \uXXXX. */
  ensureAscii?: boolean;
}

/** Python's float repr: shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Number.POSITIVE_INFINITY) return 'Infinity';
  if (x === Number.NEGATIVE_INFINITY) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = x.toExponential().split('e') as [string, string];
  const exp = Number(expStr);
  const negative = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const intLen = exp + 1;
  if (digits.length <= intLen) return `${sign}${digits}${'0'.repeat(intLen - digits.length)}.0`;
  return `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
}

function pythonString(s: string, ensureAscii: boolean): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i] as string;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || (ensureAscii && c > 0x7e)) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function dumpValue(v: PyJson, opts: DumpOptions, level: number): string {
  if (v === null) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (v instanceof PyFloat) return pythonFloatRepr(v.value);
  if (typeof v === 'number') return Number.isInteger(v) ? String(BigInt(v)) : pythonFloatRepr(v);
  if (typeof v === 'string') return pythonString(v, opts.ensureAscii !== false);
  const indent = opts.indent;
  const open = indent === undefined ? '' : `\n${' '.repeat(indent * (level + 1))}`;
  const close = indent === undefined ? '' : `\n${' '.repeat(indent * level)}`;
  const sep = indent === undefined ? ', ' : `,${open}`;
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return `[${open}${v.map((x: PyJson) => dumpValue(x, opts, level + 1)).join(sep)}${close}]`;
  }
  const obj = v as { readonly [k: string]: PyJson };
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
  if (opts.sortKeys) keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (keys.length === 0) return '{}';
  const items = keys.map(
    (k) => `${pythonString(k, opts.ensureAscii !== false)}: ${dumpValue(obj[k] as PyJson, opts, level + 1)}`,
  );
  return `{${open}${items.join(sep)}${close}}`;
}

/** `json.dumps(value, indent=..., sort_keys=...)`. */
export function pythonJsonDumps(value: PyJson, options: DumpOptions = {}): string {
  return dumpValue(value, options, 0);
}

/**
 * `json.dumps(value, ensure_ascii=False[, indent=n])` for parsed JSON values: how LLaMA-Factory serialises tool
 * lists and tool calls, whose exact spacing becomes training text.
 */
export function pythonJsonText(value: unknown, indent?: number): string {
  return pythonJsonDumps(toPyJson(value), { ensureAscii: false, indent });
}

function toPyJson(v: unknown): PyJson {
  if (v === undefined) return null;
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(toPyJson);
  if (typeof v === 'object')
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, toPyJson(x)]));
  throw new TypeError(`cannot serialize a ${typeof v} as JSON`);
}
