/** `lmforge train -h`: every argument of every group, with its type, default and help, read from the tables. */
import type { GroupSet } from './parser.js';
import { TRAIN_GROUPS } from './parser.js';
import type { ArgSpec } from './spec.js';

const TITLES: Record<string, string> = {
  model: 'Model arguments',
  data: 'Data arguments',
  finetuning: 'Fine-tuning arguments',
  training: 'Training arguments (Hugging Face Seq2SeqTrainingArguments)',
  generating: 'Generating arguments',
  evaluation: 'Evaluation arguments',
  tokenizer: 'Tokenizer arguments',
};

/** A default as a user would type it back (None for null, as LLaMA-Factory's help shows). */
export function formatDefault(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  if (typeof value === 'string') return value === '' ? "''" : value;
  return String(value);
}

function typeLabel(spec: ArgSpec<unknown>): string {
  if (spec.choices) return `{${spec.choices.join(',')}}`;
  const base = {
    str: 'STR',
    int: 'INT',
    float: 'FLOAT',
    bool: 'BOOL',
    list: 'LIST',
    'float-list': 'FLOATS',
    dict: 'JSON',
    choice: 'STR',
  }[spec.kind];
  return spec.nullable ? `${base}?` : base;
}

function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines;
}

export interface HelpOptions {
  /** extra lines right after the Usage lines (a command's own flags) */
  extra?: string[];
  /** per group, the arguments to show (a group not named shows all); the rest are still accepted */
  only?: Record<string, readonly string[]>;
}

/** The whole -h text of a command: one Usage line, then every argument (or the `only` ones) by group. */
export function formatHelp(groups: GroupSet = TRAIN_GROUPS, command = 'train', options: HelpOptions = {}): string {
  const out = [
    `Usage: lmforge ${command} <config.yaml|config.json> [key=value ...]`,
    `       lmforge ${command} --key value [--key=value] [--flag] ...`,
    ...(options.extra ?? []),
    '',
    'Booleans take true/false/1/0 (a bare --flag means true); LIST arguments take comma-separated values.',
    'Arguments marked [ignored here] are accepted so LLaMA-Factory configs load; setting one prints a note.',
    'Arguments marked [not supported] would change the result or the memory: setting one stops with an error.',
  ];
  for (const [gname, group] of Object.entries(groups)) {
    const only = options.only?.[gname];
    const entries = Object.entries(group).filter(([name]) => !only || only.includes(name));
    if (entries.length === 0) continue;
    out.push('', `${TITLES[gname] ?? gname}${only ? ' (the ones that matter here)' : ''}:`);
    for (const [name, spec] of entries) {
      out.push(`  --${name} ${typeLabel(spec)}  (default: ${formatDefault(spec.default)})`);
      out.push(...wrap(spec.help, 100, '      '));
      if (spec.note) out.push(...wrap(`[ignored here: ${spec.note}]`, 100, '      '));
      if (spec.refuse) out.push(...wrap(`[not supported: ${spec.refuse.why}]`, 100, '      '));
    }
  }
  if (options.only) {
    out.push('', `Other arguments of these groups are accepted as in a train config (lmforge train -h lists them).`);
  }
  return out.join('\n');
}
