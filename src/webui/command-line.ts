/** The Preview command button: the exact `lmforge train` (or `lmforge eval`) command line Start runs, one flag a line. */

/** A value as a POSIX shell reads it back unchanged. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:,=+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export function trainCommandLine(args: Record<string, unknown>, command: 'train' | 'eval' = 'train'): string {
  const lines = [`lmforge ${command}`];
  for (const [key, v] of Object.entries(args)) {
    if (v === undefined || v === null || v === '') continue;
    const text = Array.isArray(v) ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v);
    lines.push(`--${key} ${shellQuote(text)}`);
  }
  return lines.join(' \\\n    ');
}
