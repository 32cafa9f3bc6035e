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

export function formatHelp(groups: GroupSet = TRAIN_GROUPS, command = 'train'): string {
  const out = [
    `Usage: lmforge ${command} <config.yaml|config.json> [key=value ...]`,
    `       lmforge ${command} --key value [--key=value] [--flag] ...`,
    '',
    'Booleans take true/false/1/0 (a bare --flag means true); LIST arguments take comma-separated values.',
    'Arguments marked [ignored here] are accepted so LLaMA-Factory configs load; setting one prints a note.',
  ];
  for (const [gname, group] of Object.entries(groups)) {
    out.push('', `${TITLES[gname] ?? gname}:`);
    for (const [name, spec] of Object.entries(group)) {
      out.push(`  --${name} ${typeLabel(spec)}  (default: ${formatDefault(spec.default)})`);
      out.push(...wrap(spec.help, 100, '      '));
      if (spec.note) out.push(...wrap(`[ignored here: ${spec.note}]`, 100, '      '));
    }
  }
  return out.join('\n');
}
