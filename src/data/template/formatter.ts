import { TemplateError } from './errors.js';
import { type FunctionCall, getToolUtils, type ToolUtils } from './tool-utils.js';

/**
 * One piece of a turn's layout. A string is text with `{{content}}`/`{{idx}}` placeholders, encoded on its own
 * without special tokens; `{ token }` is one token looked up by its string; `{ special }` is the tokenizer's
 * current BOS/EOS id (dropped when the tokenizer has none), so a replaced EOS follows automatically.
 */
export type Slot = string | { token: string } | { special: 'bos_token' | 'eos_token' };

export const BOS: Slot = { special: 'bos_token' };
export const EOS: Slot = { special: 'eos_token' };

const PLACEHOLDER = /\{\{[a-zA-Z_][a-zA-Z0-9_]*\}\}/;

function hasPlaceholder(slots: Slot[]): boolean {
  return slots.some((s) => typeof s === 'string' && PLACEHOLDER.test(s));
}

/** Replaces the first `{{name}}` of each string slot, in the order of `values` (as LLaMA-Factory does). */
function fillSlots(slots: Slot[], values: Record<string, string>): Slot[] {
  return slots.map((slot) => {
    if (typeof slot !== 'string') return slot;
    for (const [name, value] of Object.entries(values)) slot = slot.replace(`{{${name}}}`, () => value);
    return slot;
  });
}

/** Fixed slots without placeholders (a template's prefix). */
export class EmptyFormatter {
  constructor(readonly slots: Slot[] = []) {
    if (hasPlaceholder(slots)) throw new Error('an empty formatter must not contain a {{placeholder}}');
  }
  apply(): Slot[] {
    return this.slots;
  }
}

/** Slots with a `{{content}}` placeholder (user, assistant, system, observation turns). */
export class StringFormatter {
  constructor(readonly slots: Slot[]) {
    if (!hasPlaceholder(slots)) throw new Error('a string formatter needs a {{content}} placeholder');
  }
  apply(values: Record<string, string>): Slot[] {
    return fillSlots(this.slots, values);
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * An assistant turn that calls tools: its content is JSON ({name, arguments} or a list of them), written out in
 * the template's tool dialect. A leading thought block (between the thought words) is kept in front.
 */
export class FunctionFormatter extends StringFormatter {
  readonly toolUtils: ToolUtils;
  constructor(
    slots: Slot[],
    readonly toolFormat: string,
  ) {
    super(slots);
    this.toolUtils = getToolUtils(toolFormat);
  }

  applyFunction(content: string, thoughtWords?: readonly [string, string]): Slot[] {
    let thought: string | null = null;
    if (thoughtWords !== undefined) {
      const regex = new RegExp(`${escapeRegExp(thoughtWords[0])}([\\s\\S]*?)${escapeRegExp(thoughtWords[1])}`);
      thought = regex.exec(content)?.[0] ?? null;
      if (thought !== null) content = content.replaceAll(thought, '');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(content);
    } catch {
      throw new TemplateError(
        `a function message must be JSON ({"name", "arguments"} or a list of them), got ${content}`,
      );
    }
    const calls: FunctionCall[] = (Array.isArray(parsed) ? parsed : [parsed]).map((call) => {
      const c = call as { name?: unknown; arguments?: unknown };
      if (c === null || typeof c !== 'object' || c.name === undefined || !('arguments' in c)) {
        throw new TemplateError(`each tool call in a function message needs "name" and "arguments", got ${content}`);
      }
      return { name: String(c.name), arguments: pythonJsonText(c.arguments) };
    });
    let text = this.toolUtils.formatFunctions(calls);
    if (thought !== null) text = thought + text;
    return this.apply({ content: text });
  }
}

/** The tool list in the system prompt, and reading tool calls back out of a reply. */
export class ToolFormatter {
  readonly toolUtils: ToolUtils;
  constructor(readonly toolFormat: string) {
    this.toolUtils = getToolUtils(toolFormat);
  }
  /** `tools` is the JSON text of a tool list, as datasets store it. */
  applyTools(tools: string, now: Date): string {
    let parsed: unknown;
    try {
      parsed = JSON.parse(tools);
    } catch {
      throw new TemplateError(`the tool description must be a JSON list, got ${tools}`);
    }
    const list = (Array.isArray(parsed) ? parsed : [parsed]) as Record<string, unknown>[];
    return list.length === 0 ? '' : this.toolUtils.formatTools(list, now);
  }
  extract(content: string): string | FunctionCall[] {
    return this.toolUtils.extract(content);
  }
}

import { pythonJsonText } from '../../util/python-json.js';
