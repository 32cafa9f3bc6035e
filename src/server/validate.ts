/**
 * Typed readers for JSON request bodies, shared by every endpoint: each names the parameter it rejects, what it
 * expected and what it got (`'messages' is required: expected a list of {role, content} messages.`), so one field
 * reads and fails the same way wherever it appears.
 */
import type { GenerationOptions } from '../infer/chat-engine.js';
import { type ApiError, invalidRequest } from './errors.js';

export type Json = Record<string, unknown>;

/** Longest piece of a string value quoted back in an error (a 2 MB prompt must not come back in the message). */
const QUOTE_CHARS = 40;

/** What a value is, for "got ...": its JSON type, with a short sample of scalars. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length} item${v.length === 1 ? '' : 's'}`;
  if (typeof v === 'string') {
    const sample = v.length > QUOTE_CHARS ? `${v.slice(0, QUOTE_CHARS)}...` : v;
    return `a string ${JSON.stringify(sample)}`;
  }
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  return 'an object';
}

/** `param` missing or of the wrong type: `expected` says what belongs there ("a string", "an integer >= 1"). */
export function fieldError(param: string, expected: string, got: unknown, code: string | null = null): ApiError {
  if (got === undefined) return invalidRequest(`'${param}' is required: expected ${expected}.`, param, code);
  return invalidRequest(`'${param}' must be ${expected}, got ${describe(got)}.`, param, code);
}

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function requireObject(v: unknown, param: string | null): Json {
  if (isObject(v)) return v;
  if (param === null) throw invalidRequest(`The request body must be a JSON object, got ${describe(v)}.`, null);
  throw fieldError(param, 'a JSON object', v);
}

export function requireString(body: Json, key: string, param = key): string {
  const v = body[key];
  if (typeof v !== 'string') throw fieldError(param, 'a string', v);
  return v;
}

export function optionalString(body: Json, key: string, param = key): string | undefined {
  return body[key] == null ? undefined : requireString(body, key, param);
}

export function optionalBoolean(body: Json, key: string): boolean | undefined {
  const v = body[key];
  if (v == null) return undefined;
  if (typeof v !== 'boolean') throw fieldError(key, 'true or false', v);
  return v;
}

export function optionalNumber(body: Json, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v == null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw fieldError(key, `a number in [${min}, ${max}]`, v);
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
    throw fieldError(key, `an integer ${range}`, v);
  }
  return v;
}

/** A string or a list of strings (OpenAI's `stop`, `input`, `prompt`), as a list. */
export function optionalStringList(body: Json, key: string): string[] | undefined {
  const v = body[key];
  if (v == null) return undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
  throw fieldError(key, 'a string or a list of strings', v);
}

/**
 * The texts a request is about (a completion's `prompt`, the `input` to embed, the `messages` to score): a string
 * (unless `listOnly`) or a non-empty list of strings; token-id arrays are not accepted. `what` says what they are.
 */
export function requireTexts(body: Json, key: string, what: string, listOnly = false): string[] {
  const v = body[key];
  const expected = `${listOnly ? '' : 'a string or '}a non-empty list of strings (${what}; token ids are not accepted)`;
  if (typeof v === 'string' && !listOnly) return [v];
  if (!Array.isArray(v) || v.length === 0) throw fieldError(key, expected, v);
  const bad = v.findIndex((s) => typeof s !== 'string');
  if (bad >= 0) throw fieldError(`${key}[${bad}]`, `a string (${what})`, v[bad]);
  return v as string[];
}

/**
 * The sampling fields chat and text completions share (temperature, top_p, the token limit, stop, seed, the
 * penalties) plus `n`, as the engine's options. `maxTokensKeys` lists the names of the token limit, the first one
 * given wins. presence_penalty and frequency_penalty are OpenAI's (over generated tokens); repetition_penalty is
 * HF's, which LLaMA-Factory's API passes through (null or absent = the model's generating default).
 */
export function generationOptions(body: Json, n: number, maxTokensKeys: readonly string[]): GenerationOptions {
  const options: GenerationOptions = { n };
  const temperature = optionalNumber(body, 'temperature', 0, 2);
  if (temperature !== undefined) options.temperature = temperature;
  const topP = optionalNumber(body, 'top_p', 0, 1);
  if (topP !== undefined) options.topP = topP;
  for (const key of maxTokensKeys) {
    const maxTokens = optionalInteger(body, key, 1);
    if (maxTokens !== undefined) {
      options.maxTokens = maxTokens;
      break;
    }
  }
  const stop = optionalStringList(body, 'stop');
  if (stop) options.stop = stop;
  const seed = optionalInteger(body, 'seed', Number.MIN_SAFE_INTEGER);
  if (seed !== undefined) options.seed = seed;
  const presence = optionalNumber(body, 'presence_penalty', -2, 2);
  if (presence) options.presencePenalty = presence;
  const frequency = optionalNumber(body, 'frequency_penalty', -2, 2);
  if (frequency) options.frequencyPenalty = frequency;
  const repetition = body.repetition_penalty;
  if (repetition != null) {
    if (typeof repetition !== 'number' || !Number.isFinite(repetition) || repetition <= 0)
      throw fieldError('repetition_penalty', 'a number > 0 (1 = no penalty)', repetition);
    options.repetitionPenalty = repetition;
  }
  return options;
}

/** `stream_options.include_usage` (chat and completions): a last chunk with empty choices carries the usage. */
export function streamIncludeUsage(body: Json): boolean {
  if (body.stream_options == null) return false;
  const options = requireObject(body.stream_options, 'stream_options');
  const v = options.include_usage;
  if (v != null && typeof v !== 'boolean') throw fieldError('stream_options.include_usage', 'true or false', v);
  return v === true;
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
