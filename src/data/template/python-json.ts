/**
 * Python's json.dumps(value, ensure_ascii=False[, indent=n]) byte for byte: tool prompts and tool calls are
 * part of the training text, so their spacing (', ' and ': ' separators) must match LLaMA-Factory's.
 */
export function pythonJsonDumps(value: unknown, indent?: number): string {
  return dump(value, indent, 0);
}

function dump(value: unknown, indent: number | undefined, level: number): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
    return JSON.stringify(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  const open = (items: string[], start: string, end: string) => {
    if (items.length === 0) return start + end;
    if (indent === undefined) return start + items.join(', ') + end;
    const pad = ' '.repeat(indent * (level + 1));
    return `${start}\n${pad}${items.join(`,\n${pad}`)}\n${' '.repeat(indent * level)}${end}`;
  };
  if (Array.isArray(value))
    return open(
      value.map((v) => dump(v, indent, level + 1)),
      '[',
      ']',
    );
  if (typeof value === 'object') {
    const items = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `${JSON.stringify(k)}: ${dump(v, indent, level + 1)}`,
    );
    return open(items, '{', '}');
  }
  throw new TypeError(`cannot serialize a ${typeof value} as JSON`);
}
