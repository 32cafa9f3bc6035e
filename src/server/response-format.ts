/**
 * OpenAI's `response_format` on chat completions: `{type: "text"}` (the default), `{type: "json_object"}` (any JSON
 * object) or `{type: "json_schema", json_schema: {name, schema, strict}}`, both served by grammar-constrained
 * decoding. The schema is compiled here so a keyword the grammar cannot enforce is a 400 naming it, before any
 * generation starts. `strict` is accepted either way: the grammar always enforces the schema.
 */
import type { ResponseFormat } from '../infer/chat-engine.js';
import { compileSchema, SchemaError } from '../infer/json-schema/compile.js';
import { invalidRequest } from './errors.js';
import { fieldError, isObject, type Json, requireObject, requireString } from './validate.js';

export function parseResponseFormat(body: Json): ResponseFormat | undefined {
  if (body.response_format == null) return undefined;
  const format = requireObject(body.response_format, 'response_format');
  const type = format.type;
  if (type === 'text') return undefined;
  if (type === 'json_object') return { type: 'json_object' };
  if (type !== 'json_schema') throw fieldError('response_format.type', "'text', 'json_object' or 'json_schema'", type);
  const spec = requireObject(format.json_schema, 'response_format.json_schema');
  const name = requireString(spec, 'name', 'response_format.json_schema.name');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name))
    throw invalidRequest(
      "'response_format.json_schema.name' must be 1 to 64 letters, digits, underscores or dashes.",
      'response_format.json_schema.name',
    );
  if (spec.strict != null && typeof spec.strict !== 'boolean')
    throw fieldError('response_format.json_schema.strict', 'true or false', spec.strict);
  const schema = spec.schema ?? {};
  if (!isObject(schema)) throw fieldError('response_format.json_schema.schema', 'a JSON Schema object', schema);
  try {
    compileSchema(schema, 'response_format.json_schema.schema');
  } catch (e) {
    if (e instanceof SchemaError) throw invalidRequest(`${e.message}.`, 'response_format.json_schema.schema');
    throw e;
  }
  return { type: 'json_schema', schema };
}
