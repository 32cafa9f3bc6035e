/**
 * Python's `json.dumps(value, ensure_ascii=False)`: ", " and ": " separators. LLaMA-Factory serialises tool calls
 * and tool lists this way, and the tokens a model is trained on depend on those spaces.
 */
export function pythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  if (typeof value === 'object') {
    const parts = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `${JSON.stringify(k)}: ${pythonJsonDumps(v)}`,
    );
    return `{${parts.join(', ')}}`;
  }
  return JSON.stringify(String(value));
}
