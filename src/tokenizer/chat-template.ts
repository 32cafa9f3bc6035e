import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { TokenizerError } from './errors.js';

/** A chat message as chat templates see it, with the optional keys templates commonly read. */
export interface ChatMessage {
  role: string;
  content: string | null;
  name?: string;
  tool_calls?: unknown[];
  tool_call_id?: string;
  reasoning_content?: string;
}

/** An OpenAI-style tool description ({type: 'function', function: {...}}) or a bare function schema. */
export type ToolSpec = Record<string, unknown>;

const compiled = new Map<string, Template>();

function compile(source: string): Template {
  let template = compiled.get(source);
  if (template === undefined) {
    try {
      // @huggingface/jinja applies trim_blocks/lstrip_blocks, as HF's apply_chat_template does.
      template = new Template(source);
    } catch (e) {
      throw new TokenizerError(`the chat template does not parse: ${(e as Error).message}`);
    }
    compiled.set(source, template);
  }
  return template;
}

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Python's datetime.strftime in the C locale, for the codes chat templates use (Llama 3.1: "%d %b %Y"). */
export function strftime(date: Date, format: string): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return format.replace(/%[YmdbBaAHMSpyje%]/g, (code) => {
    switch (code) {
      case '%Y':
        return String(date.getFullYear());
      case '%y':
        return pad(date.getFullYear() % 100);
      case '%m':
        return pad(date.getMonth() + 1);
      case '%d':
        return pad(date.getDate());
      case '%e':
        return String(date.getDate()).padStart(2, ' ');
      case '%j': {
        const start = new Date(date.getFullYear(), 0, 1);
        return String(Math.floor((date.getTime() - start.getTime()) / 86_400_000) + 1).padStart(3, '0');
      }
      case '%b':
        return MONTHS[date.getMonth()]!.slice(0, 3);
      case '%B':
        return MONTHS[date.getMonth()]!;
      case '%a':
        return DAYS[date.getDay()]!.slice(0, 3);
      case '%A':
        return DAYS[date.getDay()]!;
      case '%H':
        return pad(date.getHours());
      case '%M':
        return pad(date.getMinutes());
      case '%S':
        return pad(date.getSeconds());
      case '%p':
        return date.getHours() < 12 ? 'AM' : 'PM';
      default:
        return '%';
    }
  });
}

export interface RenderChatOptions {
  messages: ChatMessage[];
  tools?: ToolSpec[] | null;
  documents?: Record<string, unknown>[] | null;
  addGenerationPrompt?: boolean;
  /** HF's special_tokens_map: bos_token, eos_token, ... (absent keys stay undefined in the template). */
  specialTokens: Record<string, string | string[]>;
  /** Extra template variables (enable_thinking, ...), passed through like HF's **kwargs. */
  extra?: Record<string, unknown>;
  /** Clock for strftime_now; tests pin it. */
  now?: () => Date;
}

/** Renders a jinja chat template with the globals HF's apply_chat_template provides. */
export function renderChatTemplate(source: string, options: RenderChatOptions): string {
  const now = options.now ?? (() => new Date());
  const context: Record<string, unknown> = {
    ...options.specialTokens,
    ...options.extra,
    messages: options.messages,
    // HF passes None (not undefined) so `tools is not none` tests behave the same.
    tools: options.tools ?? null,
    documents: options.documents ?? null,
    add_generation_prompt: options.addGenerationPrompt ?? false,
    raise_exception: (message: unknown) => {
      throw new TokenizerError(`the chat template refused the conversation: ${String(message)}`);
    },
    strftime_now: (format: string) => strftime(now(), format),
  };
  return runWithGlobals(compile(source), context);
}

function range(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new TokenizerError('range() step must not be zero');
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

// Template.render installs its own raise_exception and a locale-dependent strftime_now and refuses to let
// callers replace them, so the globals are set up here (the same set, ours for those two).
function runWithGlobals(template: Template, context: Record<string, unknown>): string {
  const env = new Environment();
  const globals: Record<string, unknown> = {
    false: false,
    true: true,
    none: null,
    False: false,
    True: true,
    None: null,
    range,
    ...context,
  };
  for (const [key, value] of Object.entries(globals)) env.set(key, value);
  const result = new Interpreter(env).run(template.parsed);
  return String(result.value);
}
