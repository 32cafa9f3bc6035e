/**
 * JSON Schema (the subset OpenAI's structured outputs use) -> the schema graph the grammar matcher walks. Supported:
 * type (one or a list), object with properties / required / additionalProperties, string with minLength /
 * maxLength, number, integer, boolean, null, enum, const, array with items / minItems / maxItems, anyOf, and $ref
 * to #/$defs/... (or #/definitions/..., or # itself; recursion allowed). Annotations (title, description, ...)
 * are ignored; any other keyword is refused with a SchemaError naming it, so nothing is silently unconstrained.
 */

export type SchemaNode =
  | { kind: 'any' }
  | {
      kind: 'object';
      /** Declared properties in schema order: the matcher writes them in this order. */
      properties: { name: string; node: SchemaNode; required: boolean }[];
      /** Schema of undeclared keys' values; null = none allowed. */
      additional: SchemaNode | null;
    }
  | { kind: 'string'; minLength: number; maxLength: number }
  | { kind: 'number' }
  | { kind: 'integer' }
  /** enum / const / boolean / null: the value must be one of these JSON texts (as JSON.stringify writes them). */
  | { kind: 'literal'; texts: string[] }
  | { kind: 'array'; items: SchemaNode; minItems: number; maxItems: number }
  | { kind: 'anyOf'; options: SchemaNode[] }
  | { kind: 'ref'; target: SchemaNode | null; path: string };

export class SchemaError extends Error {
  readonly userFacing = true;
}

export const ANY: SchemaNode = { kind: 'any' };

/** Keywords that say nothing about which values are valid. */
const ANNOTATIONS = new Set([
  'title',
  'description',
  'default',
  'examples',
  '$schema',
  '$id',
  '$comment',
  'deprecated',
  'readOnly',
  'writeOnly',
  '$defs',
  'definitions',
]);
const KEYWORDS = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'minLength',
  'maxLength',
  'enum',
  'const',
  'items',
  'minItems',
  'maxItems',
  'anyOf',
  '$ref',
]);

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Compiles `schema` (at `where`, for messages). */
export function compileSchema(schema: unknown, where = 'schema'): SchemaNode {
  if (!isObject(schema)) throw new SchemaError(`${where} must be a JSON Schema object`);
  const refs = new Map<string, { kind: 'ref'; target: SchemaNode | null; path: string }>();
  const root = compileNode(schema, where, schema, refs);
  // Compiling a referenced schema may add references: Map iteration visits those too.
  for (const ref of refs.values()) {
    const target = resolvePointer(schema, ref.path, where);
    ref.target = target === schema ? root : compileNode(target, `${where} ${ref.path}`, schema, refs);
  }
  return root;
}

function resolvePointer(root: Json, path: string, where: string): Json {
  if (path === '#') return root;
  const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(path);
  const defs = m ? root[m[1] as string] : undefined;
  const target = m && isObject(defs) ? defs[(m[2] as string).replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  if (!isObject(target))
    throw new SchemaError(`${where}: $ref '${path}' does not name a schema (use '#/$defs/<name>' for one in $defs)`);
  return target;
}

function count(s: Json, key: string, where: string, fallback: number): number {
  const v = s[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new SchemaError(`${where}.${key} must be an integer >= 0`);
  return v;
}

function compileNode(
  s: Json,
  where: string,
  root: Json,
  refs: Map<string, { kind: 'ref'; target: SchemaNode | null; path: string }>,
): SchemaNode {
  for (const key of Object.keys(s))
    if (!KEYWORDS.has(key) && !ANNOTATIONS.has(key))
      throw new SchemaError(
        `${where} uses the JSON Schema keyword '${key}', which constrained decoding does not support; supported: ${[...KEYWORDS].join(', ')}`,
      );
  const sub = (v: unknown, at: string) => {
    if (!isObject(v)) throw new SchemaError(`${at} must be a JSON Schema object`);
    return compileNode(v, at, root, refs);
  };
  if (typeof s.$ref === 'string') {
    const existing = refs.get(s.$ref);
    if (existing) return existing;
    const ref = { kind: 'ref' as const, target: null, path: s.$ref };
    refs.set(s.$ref, ref);
    return ref;
  }
  if (s.$ref !== undefined) throw new SchemaError(`${where}.$ref must be a string`);
  if ('const' in s) return { kind: 'literal', texts: [JSON.stringify(s.const)] };
  if (s.enum !== undefined) {
    if (!Array.isArray(s.enum) || s.enum.length === 0) throw new SchemaError(`${where}.enum must be a non-empty list`);
    return { kind: 'literal', texts: s.enum.map((v) => JSON.stringify(v)) };
  }
  if (s.anyOf !== undefined) {
    if (!Array.isArray(s.anyOf) || s.anyOf.length === 0)
      throw new SchemaError(`${where}.anyOf must be a non-empty list of schemas`);
    return { kind: 'anyOf', options: s.anyOf.map((o, i) => sub(o, `${where}.anyOf[${i}]`)) };
  }
  const type = s.type;
  if (Array.isArray(type)) {
    if (type.length === 0) throw new SchemaError(`${where}.type must not be an empty list`);
    return { kind: 'anyOf', options: type.map((t) => compileNode({ ...s, type: t }, where, root, refs)) };
  }
  switch (type) {
    case undefined:
      return 'properties' in s ? compileNode({ ...s, type: 'object' }, where, root, refs) : ANY;
    case 'object': {
      const props = s.properties ?? {};
      if (!isObject(props)) throw new SchemaError(`${where}.properties must be an object of schemas`);
      const required = s.required ?? [];
      if (!Array.isArray(required) || !required.every((r) => typeof r === 'string'))
        throw new SchemaError(`${where}.required must be a list of property names`);
      for (const r of required)
        if (!(r in props))
          throw new SchemaError(`${where}.required names '${r}', which is not in properties: declare it there`);
      const extra = s.additionalProperties;
      const additional =
        extra === false
          ? null
          : extra === undefined || extra === true
            ? ANY
            : sub(extra, `${where}.additionalProperties`);
      return {
        kind: 'object',
        properties: Object.entries(props).map(([name, p]) => ({
          name,
          node: sub(p, `${where}.properties.${name}`),
          required: required.includes(name),
        })),
        additional,
      };
    }
    case 'string': {
      const minLength = count(s, 'minLength', where, 0);
      const maxLength = count(s, 'maxLength', where, Number.MAX_SAFE_INTEGER);
      if (maxLength < minLength) throw new SchemaError(`${where}: maxLength is below minLength`);
      return { kind: 'string', minLength, maxLength };
    }
    case 'number':
      return { kind: 'number' };
    case 'integer':
      return { kind: 'integer' };
    case 'boolean':
      return { kind: 'literal', texts: ['true', 'false'] };
    case 'null':
      return { kind: 'literal', texts: ['null'] };
    case 'array': {
      const minItems = count(s, 'minItems', where, 0);
      const maxItems = count(s, 'maxItems', where, Number.MAX_SAFE_INTEGER);
      if (maxItems < minItems) throw new SchemaError(`${where}: maxItems is below minItems`);
      const items = s.items === undefined ? ANY : sub(s.items, `${where}.items`);
      return { kind: 'array', items, minItems, maxItems };
    }
    default:
      throw new SchemaError(
        `${where}.type is ${JSON.stringify(type)}: expected object, string, number, integer, boolean, null or array`,
      );
  }
}
