/**
 * Fenced code blocks of a Markdown file, with the test marker that may precede one:
 *
 *   <!-- test: check why -->   bash: parsed and its commands checked (real command, accepted arguments, files that
 *                              exist), not run: for long jobs (a full training run, the whole test suite) and
 *                              commands on models a reader downloads themselves
 *   <!-- test: skip why -->    not tested at all (keep for what cannot be checked)
 *
 * Unmarked blocks run: ts/js against the package, bash/sh in a scratch folder, yaml parsed as training arguments.
 */

export type BlockMode = 'run' | 'check' | 'skip';

export interface CodeBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  code: string;
  mode: BlockMode;
  /** The marker's reason (required for check and skip). */
  reason: string;
}

/** Languages the docs test runs or checks; other fences (text, output samples) are prose. */
export const TESTED_LANGS = new Set(['ts', 'typescript', 'js', 'javascript', 'bash', 'sh', 'yaml']);

const MARKER = /^<!--\s*test:\s*(check|skip)\b\s*(.*?)\s*-->$/;

export function codeBlocks(markdown: string, file: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] as string); i++) body.push(lines[i] as string);
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: a code block is never closed`);
    let prev = start - 1;
    while (prev >= 0 && (lines[prev] as string).trim() === '') prev--;
    const marker = prev >= 0 ? MARKER.exec((lines[prev] as string).trim()) : null;
    blocks.push({
      file,
      line: start + 1,
      lang: (open[1] as string).toLowerCase(),
      code: `${body.join('\n')}\n`,
      mode: marker ? (marker[1] as BlockMode) : 'run',
      reason: marker ? (marker[2] as string) : '',
    });
  }
  return blocks;
}
