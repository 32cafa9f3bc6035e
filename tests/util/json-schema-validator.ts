/**
 * A small JSON Schema validator for the subset constrained decoding supports (compile.ts), written independently
 * of the matcher so tests can check generated values against their schema. Returns the first violation, or null.
 */
type Json = Record<string, unknown>;

export function schemaViolation(value: unknown, schema: Json, root: Json = schema, at = '$'): string | null {
  if (typeof schema.$ref === 'string') {
    const ref = schema.$ref;
    const target = ref === '#' ? root : (root.$defs as Json)?.[ref.replace('#/$defs/', '')];
    return schemaViolation(value, target as Json, root, at);
  }
  if ('const' in schema) return JSON.stringify(value) === JSON.stringify(schema.const) ? null : `${at}: not the const`;
  if (Array.isArray(schema.enum))
    return schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)) ? null : `${at}: not in enum`;
  if (Array.isArray(schema.anyOf))
    return schema.anyOf.some((s) => schemaViolation(value, s as Json, root, at) === null) ? null : `${at}: no anyOf`;
  const types = Array.isArray(schema.type) ? schema.type : schema.type === undefined ? null : [schema.type];
  if (types && !types.some((t) => typeMatches(value, t as string))) return `${at}: not of type ${types.join('|')}`;
  if (typeof value === 'string') {
    const len = [...value].length;
    if (typeof schema.minLength === 'number' && len < schema.minLength) return `${at}: shorter than minLength`;
    if (typeof schema.maxLength === 'number' && len > schema.maxLength) return `${at}: longer than maxLength`;
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) return `${at}: below minItems`;
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) return `${at}: above maxItems`;
    if (schema.items)
      for (const [i, v] of value.entries()) {
        const bad = schemaViolation(v, schema.items as Json, root, `${at}[${i}]`);
        if (bad) return bad;
      }
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const props = (schema.properties ?? {}) as Json;
    for (const r of (schema.required ?? []) as string[]) if (!(r in value)) return `${at}: missing ${r}`;
    for (const [k, v] of Object.entries(value)) {
      if (k in props) {
        const bad = schemaViolation(v, props[k] as Json, root, `${at}.${k}`);
        if (bad) return bad;
      } else if (schema.additionalProperties === false) return `${at}: extra property ${k}`;
    }
  }
  return null;
}

function typeMatches(v: unknown, t: string): boolean {
  switch (t) {
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number';
    case 'integer':
      return Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
    default:
      return false;
  }
}
