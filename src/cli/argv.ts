/**
 * LLaMA-Factory's spellings for the commands that parse their own flags with node:util's parseArgs: booleans as
 * `--flag`, `--flag true|false|True|False|1|0` or `--flag=false`, `key=value` words as `--key value`, and aliases
 * (`--model_name_or_path` for `--model`). parseArgs alone refuses a value after a boolean flag.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

const TRUE_WORDS = new Set(['true', 'True', 'TRUE', '1', 'yes']);
const FALSE_WORDS = new Set(['false', 'False', 'FALSE', '0', 'no']);

type Options = NonNullable<ParseArgsConfig['options']>;
// Named, so the .d.ts emitted for dist/ can spell the return type (parseArgs' own option type is not exported).
type Parsed<T extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true }>>;

/** Rewrites argv into what parseArgs takes, then parses it; an explicit false overrides the option's default. */
export function parseFlags<T extends Options>(
  argv: readonly string[],
  options: T,
  aliases: Record<string, string> = {},
): Parsed<T> {
  const args: string[] = [];
  const explicitFalse = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    let word = argv[i] as string;
    // key=value (LLaMA-Factory's CLI form) is --key value.
    if (!word.startsWith('-') && /^[A-Za-z_][\w.]*=/.test(word)) word = `--${word}`;
    const m = /^--([^=]+)(?:=(.*))?$/.exec(word);
    if (!m) {
      args.push(word);
      continue;
    }
    const name = aliases[m[1] as string] ?? (m[1] as string);
    const inline = m[2];
    if (options[name]?.type === 'boolean') {
      const next = inline ?? argv[i + 1];
      const isWord = next !== undefined && (TRUE_WORDS.has(next) || FALSE_WORDS.has(next));
      if (inline !== undefined && !isWord)
        throw Object.assign(new Error(`--${m[1]} takes true or false, not '${inline}'`), { userFacing: true });
      if (isWord && inline === undefined) i++;
      if (isWord && FALSE_WORDS.has(next as string)) explicitFalse.add(name);
      else args.push(`--${name}`);
      continue;
    }
    args.push(inline === undefined ? `--${name}` : `--${name}=${inline}`);
  }
  const { values, positionals } = parseArgs<{ args: string[]; options: T; allowPositionals: true }>({
    args,
    options,
    allowPositionals: true,
  });
  for (const name of explicitFalse) (values as Record<string, unknown>)[name] = false;
  return { values, positionals };
}
