import type { Tokenizer } from '../../tokenizer/tokenizer.js';
import { EOS, FunctionFormatter, type Slot, ToolFormatter } from './formatter.js';
import { parseTemplate } from './parse-template.js';
import { registeredTemplate, templateNames } from './registry.js';
import { type LogFn, type Template, TemplateError } from './template.js';

export { BOS, EOS, type Slot } from './formatter.js';
export { parseTemplate } from './parse-template.js';
export { defineTemplate, registerTemplate, type TemplateDefinition, templateNames } from './registry.js';
export {
  Llama2Template,
  type LogFn,
  type Message,
  ReasoningTemplate,
  type Role,
  Template,
  TemplateError,
} from './template.js';
export { type FunctionCall, TOOL_FORMAT_NAMES } from './tool-utils.js';

export interface GetTemplateOptions {
  /** LLaMA-Factory's enable_thinking (default true); applies to reasoning templates only. */
  enableThinking?: boolean | null;
  /** Replaces the template's default system prompt. */
  defaultSystem?: string | null;
  /** Replaces the template's tool dialect (default, glm4, llama3, mistral, qwen). */
  toolFormat?: string | null;
  /** Refused for efficient-EOS templates, whose EOS lives in the next prompt. */
  trainOnPrompt?: boolean;
  log?: LogFn;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

function unknownTemplate(name: string): TemplateError {
  const names = templateNames();
  const close = names.filter((n) => editDistance(n, name) <= 2 || n.startsWith(name)).slice(0, 5);
  const hint = close.length > 0 ? ` Did you mean ${close.join(', ')}?` : '';
  return new TemplateError(`template "${name}" does not exist.${hint} Known templates: ${names.join(', ')}.`);
}

/**
 * LLaMA-Factory's get_template_and_fix_tokenizer: a configured copy of the named template (or one derived from
 * the tokenizer's jinja chat template when `name` is unset, or `empty` when the tokenizer has none), with the
 * tokenizer fixed to match: EOS replaced by the first stop word for replace_eos templates, pad := EOS when
 * missing, stop words added as special tokens, and a chat template set for saving when it lacks one.
 */
export function getTemplate(
  name: string | undefined | null,
  tokenizer: Tokenizer,
  options: GetTemplateOptions = {},
): Template {
  const log: LogFn = options.log ?? ((level, message) => level === 'warning' && console.warn(`[lmforge] ${message}`));
  let template: Template;
  if (name === undefined || name === null) {
    if (tokenizer.chatTemplate !== null) {
      log('warning', '`template` was not specified, try parsing the chat template from the tokenizer.');
      template = parseTemplate(tokenizer, 'jinja', log);
    } else {
      log('warning', '`template` was not specified, use `empty` template.');
      template = registeredTemplate('empty')!.clone();
    }
  } else {
    const registered = registeredTemplate(name);
    if (registered === undefined) throw unknownTemplate(name);
    template = registered.clone();
  }

  if (options.trainOnPrompt && template.efficientEos) {
    throw new TemplateError(`template ${template.name} does not support train_on_prompt (its EOS is efficient)`);
  }
  if (options.toolFormat) {
    log('info', `Using tool format: ${options.toolFormat}.`);
    const slots: Slot[] = template.efficientEos ? ['{{content}}'] : ['{{content}}', EOS];
    template.formatFunction = new FunctionFormatter(slots, options.toolFormat);
    template.formatTools = new ToolFormatter(options.toolFormat);
  }
  if (options.defaultSystem !== undefined && options.defaultSystem !== null) {
    log('info', `Using default system message: ${options.defaultSystem}.`);
    template.defaultSystem = options.defaultSystem;
  }
  if (template.kind === 'reasoning') {
    log(
      'warning',
      'You are using reasoning template, please add `_nothink` suffix if the model is not a reasoning model. ' +
        'e.g., qwen3_nothink',
    );
    template.enableThinking = options.enableThinking === undefined ? true : options.enableThinking;
  }
  template.fixSpecialTokens(tokenizer, log);
  template.fixJinjaTemplate(tokenizer, log);
  return template;
}
