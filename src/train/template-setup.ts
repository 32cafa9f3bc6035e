/** The chat template of a run (LLaMA-Factory's get_template_and_fix_tokenizer) with the data arguments' overrides. */
import { getTemplate, type Template } from '../data/template/index.js';
import type { TrainArgs } from '../hparams/index.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

/** get_template_and_fix_tokenizer: the named (or derived) template with the data arguments' overrides. */
export function templateFor(tokenizer: Tokenizer, args: TrainArgs, log: (m: string) => void): Template {
  const da = args.data;
  return getTemplate(da.template ?? undefined, tokenizer, {
    enableThinking: da.enable_thinking,
    // "" is a real value (no system prompt); only null leaves the template's own default
    defaultSystem: da.default_system,
    toolFormat: da.tool_format,
    log: (level, message) => log(level === 'warning' ? `warning: ${message}` : message),
  });
}
