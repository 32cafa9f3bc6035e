/** The Preview command button: the exact `lmforge train` command line the board's Start runs, one flag a line. */

/** A value as a POSIX shell reads it back unchanged. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:,=+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export function trainCommandLine(args: Record<string, unknown>): string {
  const lines = ['lmforge train'];
  for (const [key, v] of Object.entries(args)) {
    if (v === undefined || v === null || v === '') continue;
    const text = Array.isArray(v) ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v);
    lines.push(`--${key} ${shellQuote(text)}`);
  }
  return lines.join(' \\\n    ');
}
