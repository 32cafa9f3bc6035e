/**
 * One argument = one typed field: its type, default, help and (for arguments this CPU engine cannot honour) a
 * note. A group is a plain object of these; parsing, validation, `-h` and training_args.yaml all read the table.
 */
import { didYouMean } from './did-you-mean.js';

/** The type names shown by `-h`. */
export type ArgKind = 'str' | 'int' | 'float' | 'bool' | 'list' | 'float-list' | 'dict' | 'choice';

export interface ArgSpec<T> {
  readonly kind: ArgKind;
  readonly default: T;
  readonly help: string;
  readonly nullable: boolean;
  readonly choices?: readonly string[];
  /** Set for arguments accepted for compatibility but without effect here: printed once when the user sets one. */
  readonly note?: string;
  /** Set for arguments not implemented here whose value would change the result or the memory: an error instead. */
  readonly refuse?: Refusal;
  /** Turns a YAML value or a command-line string into T; throws ArgValueError with what was expected. */
  coerce(raw: unknown): T;
}

/**
 * An argument lmforge cannot honour and must not ignore: running without it would give other weights, metrics or
 * memory than the user asked for (a 7B model loaded unquantized runs out of memory; NEFTune off trains differently).
 */
export interface Refusal {
  /** What is missing and what to do instead (the argument's name and value are prefixed). */
  readonly why: string;
  /** Which values are refused (default: any value but the default). */
  readonly when?: (value: unknown) => boolean;
  /** Refused by every command that takes it, not only by train (e.g. quantization also sizes inference). */
  readonly everywhere?: boolean;
}

export type ArgGroup = Record<string, ArgSpec<unknown>>;
export type ArgValues<G> = { -readonly [K in keyof G]: G[K] extends ArgSpec<infer T> ? T : never };

/** A value that does not fit its argument's type; the parser prefixes the argument name. */
export class ArgValueError extends Error {}

/** What YAML, OmegaConf and Python users write for None; only nullable arguments read strings as null. */
const NULLS = new Set(['null', 'Null', 'NULL', 'None', '~']);
const TRUE = new Set(['true', 't', 'yes', 'y', '1', 'on']);
const FALSE = new Set(['false', 'f', 'no', 'n', '0', 'off']);

function isNull(raw: unknown, nullable: boolean): boolean {
  return raw === null || raw === undefined || (nullable && typeof raw === 'string' && NULLS.has(raw.trim()));
}

function show(raw: unknown): string {
  return typeof raw === 'string' ? `'${raw}'` : JSON.stringify(raw);
}

function toBool(raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  if (raw === 0 || raw === 1) return raw === 1;
  if (typeof raw === 'string') {
    const s = raw.trim().toLowerCase();
    if (TRUE.has(s)) return true;
    if (FALSE.has(s)) return false;
  }
  throw new ArgValueError(`expected a boolean (true/false/1/0), got ${show(raw)}`);
}

function toInt(raw: unknown): number {
  const n = typeof raw === 'string' && /^\s*[+-]?\d+\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof n === 'number' && Number.isInteger(n)) return n;
  throw new ArgValueError(`expected an integer, got ${show(raw)}`);
}

function toFloat(raw: unknown): number {
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof n === 'number' && !Number.isNaN(n)) return n;
  throw new ArgValueError(`expected a number, got ${show(raw)}`);
}

function toStr(raw: unknown): string {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  throw new ArgValueError(`expected a string, got ${show(raw)}`);
}

/** LLaMA-Factory splits these on commas and strips each item; YAML lists are taken as they are. */
function toList(raw: unknown): string[] {
  const items = Array.isArray(raw) ? raw.map(toStr) : toStr(raw).split(',');
  return items.map((s) => s.trim()).filter((s) => s.length > 0);
}

function toDict(raw: unknown): Record<string, unknown> {
  if (typeof raw === 'string' && raw.trim().startsWith('{')) {
    try {
      raw = JSON.parse(raw);
    } catch (e) {
      throw new ArgValueError(`expected a JSON object, got ${show(raw)} (${(e as Error).message})`);
    }
  }
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) return raw as Record<string, unknown>;
  throw new ArgValueError(`expected a mapping or a JSON object string like '{"key": 1}', got ${show(raw)}`);
}

interface Options {
  note?: string;
  refuse?: Refusal;
}

function make<T>(
  kind: ArgKind,
  def: T,
  help: string,
  nullable: boolean,
  coerce: (raw: unknown) => T,
  opts: Options & { choices?: readonly string[] } = {},
): ArgSpec<T> {
  const wrapped = (raw: unknown): T => {
    if (isNull(raw, nullable)) {
      if (nullable) return null as T;
      throw new ArgValueError(`cannot be null (default: ${JSON.stringify(def)})`);
    }
    return coerce(raw);
  };
  return { kind, default: def, help, nullable, coerce: wrapped, ...opts };
}

export const str = (def: string, help: string, o?: Options) => make('str', def, help, false, toStr, o);
export const optStr = (help: string, o?: Options) => make<string | null>('str', null, help, true, toStr, o);
export const int = (def: number, help: string, o?: Options) => make('int', def, help, false, toInt, o);
export const optInt = (help: string, o?: Options, def: number | null = null) =>
  make<number | null>('int', def, help, true, toInt, o);
export const float = (def: number, help: string, o?: Options) => make('float', def, help, false, toFloat, o);
export const optFloat = (help: string, o?: Options, def: number | null = null) =>
  make<number | null>('float', def, help, true, toFloat, o);
export const bool = (def: boolean, help: string, o?: Options) => make('bool', def, help, false, toBool, o);
export const optBool = (help: string, o?: Options) => make<boolean | null>('bool', null, help, true, toBool, o);
export const list = (def: string[], help: string, o?: Options) => make('list', def, help, false, toList, o);
export const optList = (help: string, o?: Options) => make<string[] | null>('list', null, help, true, toList, o);
export const optFloatList = (help: string, o?: Options) =>
  make<number[] | null>('float-list', null, help, true, (raw) => toList(raw).map(toFloat), o);
export const optDict = (help: string, o?: Options) =>
  make<Record<string, unknown> | null>('dict', null, help, true, toDict, o);
export const dict = (help: string, o?: Options) => make<Record<string, unknown>>('dict', {}, help, false, toDict, o);

function toChoice<C extends string>(choices: readonly C[]) {
  return (raw: unknown): C => {
    const s = toStr(raw).trim();
    const hit = choices.find((c) => c === s) ?? choices.find((c) => c.toLowerCase() === s.toLowerCase());
    if (hit !== undefined) return hit;
    const guess = didYouMean(s, choices);
    throw new ArgValueError(
      `must be one of ${choices.join(', ')}; got ${show(raw)}${guess ? `; did you mean '${guess}'?` : ''}`,
    );
  };
}

export const choice = <C extends string>(choices: readonly C[], def: C, help: string, o?: Options) =>
  make<C>('choice', def, help, false, toChoice(choices), { ...o, choices });
export const optChoice = <C extends string>(choices: readonly C[], help: string, o?: Options) =>
  make<C | null>('choice', null, help, true, toChoice(choices), { ...o, choices });

/** The defaults of a group, as a fresh object (lists and dicts copied so callers may mutate them). */
export function defaultsOf<G extends ArgGroup>(group: G): ArgValues<G> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(group)) {
    const d = spec.default;
    out[name] = Array.isArray(d) ? [...d] : d !== null && typeof d === 'object' ? { ...d } : d;
  }
  return out as ArgValues<G>;
}
