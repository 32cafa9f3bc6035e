/** Small typed readers for JSON request bodies: each names the parameter it rejects and says what it expected. */
import { invalidRequest } from './errors.js';

export type Json = Record<string, unknown>;

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function requireObject(v: unknown, param: string | null): Json {
  if (!isObject(v))
    throw invalidRequest(`${param ?? 'The request body'} must be a JSON object, got ${describe(v)}.`, param);
  return v;
}

export function requireString(body: Json, key: string, param = key): string {
  const v = body[key];
  if (typeof v !== 'string') throw invalidRequest(`'${param}' must be a string, got ${describe(v)}.`, param);
  return v;
}

export function optionalString(body: Json, key: string, param = key): string | undefined {
  return body[key] == null ? undefined : requireString(body, key, param);
}

export function optionalBoolean(body: Json, key: string): boolean | undefined {
  const v = body[key];
  if (v == null) return undefined;
  if (typeof v !== 'boolean') throw invalidRequest(`'${key}' must be true or false, got ${describe(v)}.`, key);
  return v;
}

export function optionalNumber(body: Json, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v == null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw invalidRequest(`'${key}' must be a number in [${min}, ${max}], got ${describe(v)}.`, key);
  }
  return v;
}

export function optionalInteger(
  body: Json,
  key: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const v = body[key];
  if (v == null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw invalidRequest(`'${key}' must be an integer ${range}, got ${describe(v)}.`, key);
  }
  return v;
}

/** A string or a list of strings (OpenAI's `stop`, `input`, `prompt`), as a list. */
export function optionalStringList(body: Json, key: string): string[] | undefined {
  const v = body[key];
  if (v == null) return undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
  throw invalidRequest(`'${key}' must be a string or a list of strings, got ${describe(v)}.`, key);
}

/** Parameters this server does not implement are refused rather than silently ignored. */
export function refuseUnsupported(body: Json, keys: readonly string[]): void {
  for (const key of keys) {
    const v = body[key];
    if (v != null && v !== false) {
      throw invalidRequest(`'${key}' is not supported by this server; leave it out.`, key, 'unsupported_parameter');
    }
  }
}
