import type { Tokenizer } from '../../tokenizer/tokenizer.js';
import { defineTemplate } from './registry.js';
import type { Template } from './template.js';

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
export function parseTemplate(tokenizer: Tokenizer, name = 'jinja'): Template {
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
