/**
 * Reads arguments the way `llamafactory-cli train` does: a YAML/JSON file followed by `key=value` overrides, or
 * `--key value` / `--key=value` / `--flag` on the command line. Types every value with its group's table.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { CHAT_ARGS, INSPECT_ARGS, KB_ARGS, SERVER_ARGS, TOKENIZER_ARGS, WEBUI_ARGS } from './command-args.js';
import { DATA_ARGS } from './data-args.js';
import { didYouMean } from './did-you-mean.js';
import { HparamsError } from './errors.js';
import { EVALUATION_ARGS } from './evaluation-args.js';
import { FINETUNING_ARGS } from './finetuning-args.js';
import { GENERATING_ARGS } from './generating-args.js';
import { MODEL_ARGS } from './model-args.js';
import { type ArgGroup, type ArgSpec, ArgValueError, defaultsOf } from './spec.js';
import { TRAINING_ARGS } from './training-args.js';

/** The groups `lmforge train` accepts, in the order `-h` shows them. */
export const TRAIN_GROUPS = {
  model: MODEL_ARGS,
  data: DATA_ARGS,
  finetuning: FINETUNING_ARGS,
  training: TRAINING_ARGS,
  generating: GENERATING_ARGS,
} as const;

/** The groups `lmforge eval` accepts (LLaMA-Factory's get_eval_args). */
export const EVAL_GROUPS = {
  model: MODEL_ARGS,
  data: DATA_ARGS,
  evaluation: EVALUATION_ARGS,
  finetuning: FINETUNING_ARGS,
} as const;

/** The groups `lmforge chat` / `lmforge api` accept (LLaMA-Factory's get_infer_args). */
export const INFER_GROUPS = {
  model: MODEL_ARGS,
  data: DATA_ARGS,
  finetuning: FINETUNING_ARGS,
  generating: GENERATING_ARGS,
} as const;

export type GroupSet = Record<string, ArgGroup>;

/** The groups `lmforge chat` accepts: inference plus --show_speed. */
export const CHAT_GROUPS = { ...INFER_GROUPS, chat: CHAT_ARGS } as const;

/** The groups `lmforge api` accepts: inference plus the server's address and queue. */
export const API_GROUPS = { ...INFER_GROUPS, server: SERVER_ARGS } as const;

/** The groups `lmforge kb ...` accept: inference (ask/chat load a model) plus the knowledge base's own. */
export const KB_GROUPS = { ...INFER_GROUPS, kb: KB_ARGS } as const;
/** The groups `lmforge webui` accepts: inference (the board's first model) plus its address, token and work dirs. */
export const WEBUI_GROUPS = { ...INFER_GROUPS, webui: WEBUI_ARGS } as const;

/** The groups `lmforge data preview|stats` accept: what tokenizing a dataset needs, plus what to show. */
export const DATA_GROUPS = {
  model: MODEL_ARGS,
  data: DATA_ARGS,
  finetuning: FINETUNING_ARGS,
  inspect: INSPECT_ARGS,
} as const;

/** The groups `lmforge tokenizer train|extend|stats` accept: the model folder, dataset names, and its own. */
export const TOKENIZER_GROUPS = {
  model: MODEL_ARGS,
  data: DATA_ARGS,
  tokenizer: TOKENIZER_ARGS,
} as const;

/**
 * Other names for an argument: old names still found in configs (with a note saying so), and lmforge's earlier
 * spellings, kept working without one (`--model` of data preview, `--system` of chat).
 */
const ALIASES: Record<string, { to: string; why?: string }> = {
  evaluation_strategy: { to: 'eval_strategy', why: 'renamed to eval_strategy in transformers 4.46' },
  model: { to: 'model_name_or_path' },
  system: { to: 'default_system' },
};

/** Raw values by argument name (YAML-typed or command-line strings), and where they came from. */
export interface RawArgs {
  values: Record<string, unknown>;
  /** The config file, when the first argument named one. */
  file?: string;
}

const BOOL_LITERAL = /^(true|false|t|f|yes|no|y|n|1|0|on|off)$/i;

function isConfigFile(arg: string): boolean {
  return /\.(ya?ml|json)$/i.test(arg);
}

function loadConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new HparamsError([`cannot read config file ${path}: ${(e as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text); // YAML is a superset of JSON: one parser for both
  } catch (e) {
    throw new HparamsError([`${path} is not valid YAML/JSON: ${(e as Error).message}`]);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new HparamsError([`${path} must hold a mapping of argument names to values (key: value lines)`]);
  }
  return doc as Record<string, unknown>;
}

/** `a.b=1` sets key b inside mapping a (OmegaConf's dotted overrides, used for lr_scheduler_kwargs). */
function setValue(values: Record<string, unknown>, key: string, value: unknown): void {
  const dot = key.indexOf('.');
  if (dot < 0) {
    values[key] = value;
    return;
  }
  const head = key.slice(0, dot);
  const cur = values[head];
  const inner = typeof cur === 'object' && cur !== null && !Array.isArray(cur) ? { ...cur } : {};
  setValue(inner as Record<string, unknown>, key.slice(dot + 1), value);
  values[head] = inner;
}

/**
 * Collects raw values from argv. Whether `--flag` takes the next token depends on the argument's kind, so the
 * tables are consulted: a boolean takes it only if it reads as a boolean.
 */
export function readArgs(argv: readonly string[], groups: GroupSet = TRAIN_GROUPS): RawArgs {
  const specs = specIndex(groups);
  const values: Record<string, unknown> = {};
  let i = 0;
  let file: string | undefined;
  if (argv.length > 0 && isConfigFile(argv[0] as string) && !(argv[0] as string).startsWith('-')) {
    file = argv[0] as string;
    Object.assign(values, loadConfigFile(file));
    i = 1;
  }
  const problems: string[] = [];
  for (; i < argv.length; i++) {
    const tok = argv[i] as string;
    if (tok.startsWith('--')) {
      const body = tok.slice(2);
      const eq = body.indexOf('=');
      if (eq >= 0) {
        setValue(values, body.slice(0, eq), body.slice(eq + 1));
        continue;
      }
      const spec = specs.get(ALIASES[body]?.to ?? body);
      const next = argv[i + 1];
      if (spec?.kind === 'bool') {
        // HF's boolean flags take an optional value: `--do_predict` alone means true.
        if (next !== undefined && BOOL_LITERAL.test(next)) {
          values[body] = next;
          i++;
        } else values[body] = true;
      } else if (next === undefined || next.startsWith('--')) {
        // An unknown name is kept so that typeArgs reports it with a suggestion.
        if (spec === undefined) values[body] = true;
        else problems.push(`--${body} needs a value: --${body} <value> or --${body}=<value>`);
      } else {
        values[body] = next;
        i++;
      }
    } else if (/^[A-Za-z_][\w.]*=/.test(tok)) {
      const eq = tok.indexOf('=');
      setValue(values, tok.slice(0, eq), tok.slice(eq + 1));
    } else {
      const hint = isConfigFile(tok) ? ' (a config file must come first)' : '';
      problems.push(`unexpected argument '${tok}'${hint}: use key=value after a config file, or --key value`);
    }
  }
  if (problems.length > 0) throw new HparamsError(problems);
  return file === undefined ? { values } : { values, file };
}

function specIndex(groups: GroupSet): Map<string, ArgSpec<unknown>> {
  const out = new Map<string, ArgSpec<unknown>>();
  for (const g of Object.values(groups)) for (const [name, spec] of Object.entries(g)) out.set(name, spec);
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Typed values per group, the user-given values (typed), and one note per ignored-here argument the user set. */
export interface TypedArgs {
  groups: Record<string, Record<string, unknown>>;
  given: Record<string, unknown>;
  notes: string[];
  /** Arguments set to what this engine cannot honour (only when `deferRefusals`; otherwise they throw). */
  refused: string[];
}

export interface TypeOptions {
  /** The command trains: training-only refusals apply (chat, api, eval and data refuse only `everywhere` ones). */
  training?: boolean;
  /** Return refusals in `refused` so the caller reports them with its own checks (train does, in one message). */
  deferRefusals?: boolean;
  /** The command named in "lmforge <command> -h lists them all". */
  command?: string;
}

/** `name: value` refused: what is missing and that removing the argument runs without it. */
function refusal(name: string, value: unknown, why: string): string {
  return `${name}: ${JSON.stringify(value)} is not supported by lmforge: ${why}`;
}

/** Types raw values with the tables; every unknown name and ill-typed value is reported together. */
export function typeArgs(
  raw: Record<string, unknown>,
  groups: GroupSet = TRAIN_GROUPS,
  options: TypeOptions = {},
): TypedArgs {
  const owner = new Map<string, string>();
  for (const [gname, g] of Object.entries(groups)) for (const name of Object.keys(g)) owner.set(name, gname);
  const out: Record<string, Record<string, unknown>> = {};
  for (const [gname, g] of Object.entries(groups)) out[gname] = defaultsOf(g) as Record<string, unknown>;
  const given: Record<string, unknown> = {};
  const notes: string[] = [];
  const problems: string[] = [];
  const refused: string[] = [];
  for (let [name, value] of Object.entries(raw)) {
    const alias = ALIASES[name];
    if (alias) {
      if (alias.why) notes.push(`${name}: read as ${alias.to} (${alias.why})`);
      name = alias.to;
    }
    const gname = owner.get(name);
    if (gname === undefined) {
      const guess = didYouMean(name, owner.keys());
      problems.push(
        `unknown argument '${name}'${guess ? `; did you mean '${guess}'?` : ''} (lmforge ${options.command ?? 'train'} -h lists them all)`,
      );
      continue;
    }
    const spec = (groups[gname] as ArgGroup)[name] as ArgSpec<unknown>;
    try {
      const typed = spec.coerce(value);
      (out[gname] as Record<string, unknown>)[name] = typed;
      given[name] = typed;
      const changed = !sameValue(typed, spec.default);
      const refuse = spec.refuse;
      if (refuse && (refuse.everywhere || options.training) && (refuse.when ? refuse.when(typed) : changed)) {
        refused.push(refusal(name, typed, refuse.why));
      } else if (spec.note && changed) notes.push(`${name}: ${spec.note}`);
    } catch (e) {
      if (!(e instanceof ArgValueError)) throw e;
      problems.push(`${name}: ${e.message}`);
    }
  }
  if (!options.deferRefusals) problems.push(...refused);
  if (problems.length > 0) throw new HparamsError(problems);
  return { groups: out, given, notes, refused: options.deferRefusals ? refused : [] };
}

/** Whether `key` was given on the command line (not only in the config file). */
export function givenOnCommandLine(argv: readonly string[], key: string): boolean {
  return argv.some((a) => a === `--${key}` || a.startsWith(`--${key}=`) || a.startsWith(`${key}=`));
}

/**
 * The one way every command reads its arguments: `cfg.yaml [key=value ...]` or `--key value ...`, typed by the
 * command's groups. A config file may hold keys of other commands (chat on a training YAML): those are skipped,
 * while an unknown name on the command line is still an error with a suggestion.
 */
export function parseCommandArgs(
  argv: readonly string[],
  groups: GroupSet,
  options: TypeOptions = {},
): TypedArgs & { skipped: Record<string, unknown> } {
  const raw = readArgs(argv, groups);
  const known = new Set(Object.values(groups).flatMap((g) => Object.keys(g)));
  const values: Record<string, unknown> = {};
  const skipped: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw.values)) {
    if (known.has(k) || ALIASES[k] !== undefined || !raw.file || givenOnCommandLine(argv, k)) values[k] = v;
    else skipped[k] = v;
  }
  return { ...typeArgs(values, groups, options), skipped };
}
