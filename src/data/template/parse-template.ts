import type { Tokenizer } from '../../tokenizer/tokenizer.js';
import { defineTemplate } from './registry.js';
import type { LogFn, Template } from './template.js';

/** The characters of `longer` that are not matched, in order, by `shorter` (LLaMA-Factory's find_diff). */
function findDiff(shorter: string, longer: string): string {
  let i = 0;
  let j = 0;
  let diff = '';
  while (i < shorter.length && j < longer.length) {
    if (shorter[i] === longer[j]) {
      i++;
      j++;
    } else {
      diff += longer[j];
      j++;
    }
  }
  return diff;
}

/**
 * Derives a template from the tokenizer's jinja chat template, as LLaMA-Factory does when `template` is unset:
 * render probe conversations whose contents are the literal `{{content}}`, and cut the renders into slots.
 * The prefix is what encoding an empty string yields (a BOS the post-processor adds).
 */
export function parseTemplate(tokenizer: Tokenizer, name = 'jinja', log: LogFn = () => {}): Template {
  const prefix = tokenizer.decode(tokenizer.emptyTextIds);
  const render = (messages: { role: string; content: string }[], addGenerationPrompt: boolean) =>
    tokenizer.applyChatTemplate(messages, { addGenerationPrompt });

  const systemSlot = render([{ role: 'system', content: '{{content}}' }], false).slice(prefix.length);
  const userSlotEmptySystem = render(
    [
      { role: 'system', content: '' },
      { role: 'user', content: '{{content}}' },
    ],
    true,
  ).slice(prefix.length);
  let userSlot = render([{ role: 'user', content: '{{content}}' }], true).slice(prefix.length);
  let assistantSlot = render(
    [
      { role: 'user', content: '{{content}}' },
      { role: 'assistant', content: '{{content}}' },
    ],
    false,
  ).slice(prefix.length + userSlot.length);
  // LLaMA-Factory derives these slots without checks; two template defects silently train a model that
  // never stops or repeats BOS, so say so (the fix is a named template).
  const userOnly = [{ role: 'user', content: '{{content}}' }];
  if (render(userOnly, false) === render(userOnly, true)) {
    log(
      'warning',
      "the tokenizer's chat template ignores add_generation_prompt: every derived reply will be followed by the " +
        'next assistant header. Set `template` to the model family (llama3, qwen, ...) instead.',
    );
  }
  if (tokenizer.bosToken && !prefix && userSlot.startsWith(tokenizer.bosToken)) {
    log(
      'warning',
      `the chat template writes ${tokenizer.bosToken} itself: every derived user turn will start with it. ` +
        'Set `template` to the model family instead.',
    );
  }
  const reasoning = assistantSlot.includes('<think>');
  assistantSlot = assistantSlot.replaceAll('<think>', '').replaceAll('</think>', '').replace(/^\n+/, '');

  let defaultSystem = '';
  // A template that injects a default system prompt renders a longer user turn than one with an empty system.
  if (userSlot.length > userSlotEmptySystem.length) {
    defaultSystem = findDiff(userSlotEmptySystem, userSlot);
    const soleSystem = systemSlot.replace('{{content}}', () => defaultSystem);
    userSlot = userSlot.slice(soleSystem.length);
  }

  return defineTemplate({
    name,
    kind: reasoning ? 'reasoning' : 'default',
    user: [userSlot],
    assistant: [assistantSlot],
    system: [systemSlot],
    function: { slots: [assistantSlot], toolFormat: 'default' },
    observation: [userSlot],
    toolFormat: 'default',
    prefix: prefix ? [prefix] : [],
    defaultSystem,
  });
}
