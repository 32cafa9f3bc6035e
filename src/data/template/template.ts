import type { Tokenizer } from '../../tokenizer/tokenizer.js';
import { pushAll } from '../../util/arrays.js';
import type { Message, Role } from '../message.js';
import { TemplateError } from './errors.js';
import type { EmptyFormatter, FunctionFormatter, Slot, StringFormatter, ToolFormatter } from './formatter.js';
import type { FunctionCall } from './tool-utils.js';

export type { Message, Role };
export { TemplateError };

export type TemplateKind = 'default' | 'llama2' | 'reasoning';

/** Everything that defines a template; register one with these fields (unset ones take LLaMA-Factory's defaults). */
export interface TemplateFields {
  name: string;
  kind: TemplateKind;
  formatUser: StringFormatter;
  formatAssistant: StringFormatter;
  formatSystem: StringFormatter;
  formatFunction: FunctionFormatter;
  formatObservation: StringFormatter;
  formatTools: ToolFormatter;
  formatPrefix: EmptyFormatter;
  defaultSystem: string;
  stopWords: string[];
  thoughtWords: readonly [string, string];
  toolCallWords: readonly [string, string];
  efficientEos: boolean;
  replaceEos: boolean;
  replaceJinjaTemplate: boolean;
  /** true: train on the (possibly empty) thought; false: strip thoughts, empty think block in the prompt; null: keep given thoughts, add empty ones to the prompt. */
  enableThinking: boolean | null;
}

export type LogFn = (level: 'info' | 'warning', message: string) => void;

/**
 * LLaMA-Factory's chat template model: each turn is a list of slots; string slots are tokenized one by one
 * without special tokens, so special tokens are never merged across slot borders and the ids are exactly
 * LLaMA-Factory's. Turn 0 carries the prefix and the system prompt (with the tool list).
 */
export class Template implements TemplateFields {
  name!: string;
  kind!: TemplateKind;
  formatUser!: StringFormatter;
  formatAssistant!: StringFormatter;
  formatSystem!: StringFormatter;
  formatFunction!: FunctionFormatter;
  formatObservation!: StringFormatter;
  formatTools!: ToolFormatter;
  formatPrefix!: EmptyFormatter;
  defaultSystem!: string;
  stopWords!: string[];
  thoughtWords!: readonly [string, string];
  toolCallWords!: readonly [string, string];
  efficientEos!: boolean;
  replaceEos!: boolean;
  replaceJinjaTemplate!: boolean;
  enableThinking!: boolean | null;
  /** Clock for the date some tool prompts carry (Llama 3); tests pin it. */
  now: () => Date = () => new Date();

  constructor(fields: TemplateFields) {
    Object.assign(this, fields);
  }

  /** An independent copy: getTemplate hands out copies so options never leak into the registry. */
  clone(): Template {
    const copy = new (this.constructor as new (f: TemplateFields) => Template)(this);
    copy.stopWords = [...this.stopWords];
    copy.now = this.now;
    return copy;
  }

  /** [prompt, response]: every turn but the last is prompt. */
  async encodeOneturn(
    tokenizer: Tokenizer,
    messages: Message[],
    system?: string | null,
    tools?: string | null,
  ): Promise<[number[], number[]]> {
    const encoded = await this.encodeMessages(tokenizer, messages, system, tools);
    return [encoded.slice(0, -1).flat(), encoded.at(-1) ?? []];
  }

  /** One [prompt, response] pair per (user, assistant) turn pair. */
  async encodeMultiturn(
    tokenizer: Tokenizer,
    messages: Message[],
    system?: string | null,
    tools?: string | null,
    _discardingHistoryCot = false,
  ): Promise<Array<[number[], number[]]>> {
    return pairUp(await this.encodeMessages(tokenizer, messages, system, tools));
  }

  /** Tool calls in a generated reply, or the reply itself when it calls nothing. */
  extractToolCalls(text: string): string | FunctionCall[] {
    return this.formatTools.extract(text);
  }

  /** Ids that end generation: EOS and every stop word (ascending, as Python's set of small ints iterates). */
  stopIds(tokenizer: Tokenizer): number[] {
    const ids = new Set<number>();
    if (tokenizer.eosTokenId !== null) ids.add(tokenizer.eosTokenId);
    for (const word of this.stopWords) {
      const id = tokenizer.convertTokensToIds(word);
      if (id !== null) ids.add(id);
    }
    return [...ids].sort((a, b) => a - b);
  }

  /**
   * The text of each message as the slots lay it out ({token} slots as their text, BOS/EOS as the given
   * strings): for previews and for checking a template without its tokenizer. Thought blocks that reasoning
   * templates add at the id level are not included.
   */
  renderText(
    messages: Message[],
    specials: { bosToken: string | null; eosToken: string | null },
    system?: string | null,
    tools?: string | null,
  ): string[] {
    const sys = system || this.defaultSystem;
    return messages.map((m, i) =>
      this.messageSlots(i, m, sys, tools ?? '')
        .map((slot) => {
          if (typeof slot === 'string') return slot;
          if ('token' in slot) return slot.token;
          return (slot.special === 'bos_token' ? specials.bosToken : specials.eosToken) ?? '';
        })
        .join(''),
    );
  }

  /** The slots of one message (turn 0 adds the prefix and system prompt). */
  protected messageSlots(index: number, message: Message, system: string, tools: string): Slot[] {
    const slots: Slot[] = [];
    if (index === 0) {
      slots.push(...this.formatPrefix.apply());
      if (system || tools) {
        const toolText = tools ? this.toolText(tools) : '';
        slots.push(...this.formatSystem.apply({ content: system + toolText }));
      }
    }
    switch (message.role) {
      case 'user':
        slots.push(...this.formatUser.apply({ content: message.content, idx: String(Math.floor(index / 2)) }));
        break;
      case 'assistant':
        slots.push(...this.formatAssistant.apply({ content: message.content }));
        break;
      case 'observation':
        slots.push(...this.formatObservation.apply({ content: message.content }));
        break;
      case 'function':
        slots.push(...this.formatFunction.applyFunction(message.content, this.thoughtWords));
        break;
      default:
        throw new TemplateError(
          `template ${this.name}: unexpected role "${message.role}" at turn ${index}; pass the system prompt separately`,
        );
    }
    return slots;
  }

  protected toolText(tools: string): string {
    return this.formatTools.applyTools(tools, this.now());
  }

  /** Token ids of each message, in order. */
  protected async encodeMessages(
    tokenizer: Tokenizer,
    messages: Message[],
    system: string | null | undefined,
    tools: string | null | undefined,
  ): Promise<number[][]> {
    const sys = system || this.defaultSystem;
    const perMessage = messages.map((m, i) => this.messageSlots(i, m, sys, tools ?? ''));
    return slotsToIds(tokenizer, perMessage);
  }

  // ---- thoughts (reasoning templates) ------------------------------------------------------------------------

  /** The empty thought block, e.g. "<think>\n\n</think>\n\n". */
  emptyThought(): string {
    return this.thoughtWords[0] + this.thoughtWords[1];
  }

  removeThought(content: string): string {
    const [open, close] = this.thoughtWords;
    const regex = new RegExp(`${escapeRegExp(open)}[\\s\\S]*?${escapeRegExp(close)}`, 'g');
    return content.replace(regex, '').replace(/^\n+/, '');
  }

  protected hasThought(content: string): boolean {
    return content.includes(this.thoughtWords[0].trim()) || content.includes(this.thoughtWords[1].trim());
  }

  // ---- tokenizer fixes ---------------------------------------------------------------------------------------

  /**
   * LLaMA-Factory's fix_special_tokens: with replace_eos the first stop word becomes EOS; a missing EOS becomes
   * <|endoftext|>; a missing pad token becomes EOS; the other stop words are added as special tokens.
   * Returns how many tokens were added to the vocabulary (the model must resize its embeddings when > 0).
   */
  fixSpecialTokens(tokenizer: Tokenizer, log: LogFn = defaultLog): number {
    let added = 0;
    let stopWords = this.stopWords;
    if (this.replaceEos) {
      if (stopWords.length === 0) throw new TemplateError(`template ${this.name}: replace_eos needs stop words`);
      added += addOrReplaceEos(tokenizer, stopWords[0]!, log);
      stopWords = stopWords.slice(1);
    }
    if (tokenizer.eosTokenId === null) added += addOrReplaceEos(tokenizer, '<|endoftext|>', log);
    if (tokenizer.padTokenId === null) {
      tokenizer.padToken = tokenizer.eosToken;
      log('info', `Add pad token: ${tokenizer.padToken}`);
    }
    if (stopWords.length > 0) {
      const count = tokenizer.addSpecialTokens({ additionalSpecialTokens: stopWords }, false);
      log('info', `Add ${stopWords.join(',')} to stop words.`);
      if (count > 0) log('warning', 'New tokens have been added, make sure `resize_vocab` is True.');
      added += count;
    }
    return added;
  }

  /** The template as a jinja chat template (LLaMA-Factory's _get_jinja_template), for saved tokenizers. */
  toJinja(tokenizer: Tokenizer): string {
    const prefix = slotsToJinja(this.formatPrefix.apply(), tokenizer);
    const system = slotsToJinja(this.formatSystem.slots, tokenizer, 'system_message');
    const user = slotsToJinja(this.formatUser.slots, tokenizer);
    const assistant = slotsToJinja(this.formatAssistant.slots, tokenizer);
    let jinja = prefix ? `{{ ${prefix} }}` : '';
    if (this.defaultSystem) jinja += `{% set system_message = '${jinjaEscape(this.defaultSystem)}' %}`;
    jinja +=
      "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}" +
      "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% endif %}" +
      `{% if system_message is defined %}{{ ${system} }}{% endif %}` +
      '{% for message in loop_messages %}' +
      "{% set content = message['content'] %}" +
      "{% if message['role'] == 'user' %}" +
      `{{ ${user} }}` +
      "{% elif message['role'] == 'assistant' %}" +
      `{{ ${assistant} }}` +
      '{% endif %}' +
      '{% endfor %}';
    return jinja;
  }

  /** Gives the tokenizer this template as its chat template when it has none, or when the template insists. */
  fixJinjaTemplate(tokenizer: Tokenizer, log: LogFn = defaultLog): void {
    if (tokenizer.chatTemplate !== null && !this.replaceJinjaTemplate) return;
    try {
      tokenizer.chatTemplate = this.toJinja(tokenizer);
    } catch (e) {
      log('info', `Cannot add this chat template to tokenizer: ${(e as Error).message}.`);
    }
  }

  /** An Ollama Modelfile with this template, its default system prompt and stop tokens. */
  ollamaModelfile(tokenizer: Tokenizer): string {
    const prefix = slotsToOllama(this.formatPrefix.apply(), tokenizer);
    const system = slotsToOllama(this.formatSystem.slots, tokenizer, '.System');
    const user = slotsToOllama(this.formatUser.slots, tokenizer, '.Content');
    const assistant = slotsToOllama(this.formatAssistant.slots, tokenizer, '.Content');
    const template =
      `${prefix}{{ if .System }}${system}{{ end }}` +
      `{{ range .Messages }}{{ if eq .Role "user" }}${user}` +
      `{{ else if eq .Role "assistant" }}${assistant}{{ end }}{{ end }}`;
    let out = `# ollama modelfile auto-generated by llamafactory\n\nFROM .\n\nTEMPLATE """${template}"""\n\n`;
    if (this.defaultSystem) out += `SYSTEM """${this.defaultSystem}"""\n\n`;
    for (const id of this.stopIds(tokenizer)) out += `PARAMETER stop "${tokenizer.convertIdsToTokens(id)}"\n`;
    return `${out}PARAMETER num_ctx 4096\n`;
  }
}

/** Merges the system prompt into the first user turn (Llama 2, Mistral, Gemma). */
export class Llama2Template extends Template {
  protected override messageSlots(index: number, message: Message, system: string, tools: string): Slot[] {
    const slots: Slot[] = [];
    let systemText = '';
    if (index === 0) {
      slots.push(...this.formatPrefix.apply());
      if (system || tools) {
        const toolText = tools ? this.toolText(tools) : '';
        const first = this.formatSystem.apply({ content: system + toolText })[0];
        systemText = typeof first === 'string' ? first : '';
      }
    }
    switch (message.role) {
      case 'user':
        slots.push(...this.formatUser.apply({ content: systemText + message.content }));
        break;
      case 'assistant':
        slots.push(...this.formatAssistant.apply({ content: message.content }));
        break;
      case 'observation':
        slots.push(...this.formatObservation.apply({ content: message.content }));
        break;
      case 'function':
        // Unlike the base template, LLaMA-Factory does not lift thoughts out of function turns here.
        slots.push(...this.formatFunction.applyFunction(message.content));
        break;
      default:
        throw new TemplateError(
          `template ${this.name}: unexpected role "${message.role}" at turn ${index}; pass the system prompt separately`,
        );
    }
    return slots;
  }

  override toJinja(tokenizer: Tokenizer): string {
    const prefix = slotsToJinja(this.formatPrefix.apply(), tokenizer);
    const system = slotsToJinja(this.formatSystem.slots, tokenizer, 'system_message');
    const user = slotsToJinja(this.formatUser.slots, tokenizer);
    const assistant = slotsToJinja(this.formatAssistant.slots, tokenizer);
    let jinja = prefix ? `{{ ${prefix} }}` : '';
    if (this.defaultSystem) jinja += `{% set system_message = '${jinjaEscape(this.defaultSystem)}' %}`;
    jinja +=
      "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}" +
      "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% endif %}" +
      '{% for message in loop_messages %}' +
      '{% if loop.index0 == 0 and system_message is defined %}' +
      `{% set content = ${system} + message['content'] %}` +
      "{% else %}{% set content = message['content'] %}{% endif %}" +
      "{% if message['role'] == 'user' %}" +
      `{{ ${user} }}` +
      "{% elif message['role'] == 'assistant' %}" +
      `{{ ${assistant} }}` +
      '{% endif %}' +
      '{% endfor %}';
    return jinja;
  }
}

/**
 * Templates of thinking models (Qwen3...): history thoughts are dropped from the prompt, and a reply without a
 * thought gets the empty thought block — in the prompt (no loss) unless enable_thinking asks to learn it.
 */
export class ReasoningTemplate extends Template {
  override async encodeOneturn(
    tokenizer: Tokenizer,
    messages: Message[],
    system?: string | null,
    tools?: string | null,
  ): Promise<[number[], number[]]> {
    messages = messages.map((m) => ({ ...m }));
    for (let i = 1; i < messages.length - 2; i += 2) messages[i]!.content = this.removeThought(messages[i]!.content);
    const last = messages.at(-1);
    if (last !== undefined && this.enableThinking === false) last.content = this.removeThought(last.content);
    let [prompt, response] = await super.encodeOneturn(tokenizer, messages, system, tools);
    if (last !== undefined && !this.hasThought(last.content)) {
      const thought = await tokenizer.encode(this.emptyThought(), { addSpecialTokens: false });
      if (!this.enableThinking) prompt = [...prompt, ...thought];
      else response = [...thought, ...response];
    }
    return [prompt, response];
  }

  /**
   * discardingHistoryCot (LLaMA-Factory's option for mask_history): earlier replies lose their thoughts and get
   * no empty thought block, as the model's own chat template shows history at inference.
   */
  override async encodeMultiturn(
    tokenizer: Tokenizer,
    messages: Message[],
    system?: string | null,
    tools?: string | null,
    discardingHistoryCot = false,
  ): Promise<Array<[number[], number[]]>> {
    messages = messages.map((m) => ({ ...m }));
    for (let i = 1; i < messages.length; i += 2) {
      const isHistory = i < messages.length - 1;
      if (this.enableThinking === false || (discardingHistoryCot && isHistory)) {
        messages[i]!.content = this.removeThought(messages[i]!.content);
      }
    }
    const encoded = await this.encodeMessages(tokenizer, messages, system, tools);
    const thought = await tokenizer.encode(this.emptyThought(), { addSpecialTokens: false });
    for (let i = 0; i + 1 < messages.length; i += 2) {
      if (this.hasThought(messages[i + 1]!.content)) continue;
      if (discardingHistoryCot && i + 2 < messages.length) continue;
      if (!this.enableThinking) encoded[i] = [...encoded[i]!, ...thought];
      else encoded[i + 1] = [...thought, ...encoded[i + 1]!];
    }
    return pairUp(encoded);
  }
}

function pairUp(encoded: number[][]): Array<[number[], number[]]> {
  const pairs: Array<[number[], number[]]> = [];
  for (let i = 0; i < encoded.length; i += 2) pairs.push([encoded[i]!, encoded[i + 1] ?? []]);
  return pairs;
}

/** Encodes every string slot of every message in one batch, then assembles ids per message. */
export async function slotsToIds(tokenizer: Tokenizer, perMessage: Slot[][]): Promise<number[][]> {
  const texts = perMessage.flat().filter((s): s is string => typeof s === 'string' && s.length > 0);
  const encodedTexts = await tokenizer.encodeBatch(texts, { addSpecialTokens: false });
  let next = 0;
  return perMessage.map((slots) => {
    const ids: number[] = [];
    for (const slot of slots) {
      if (typeof slot === 'string') {
        if (slot.length > 0) pushAll(ids, encodedTexts[next++]!);
      } else if ('token' in slot) {
        // Stricter than LLaMA-Factory, which would silently use the unk id: a role token the vocabulary lacks
        // means the template does not belong to this model.
        const id = tokenizer.tokenToId(slot.token);
        if (id === null) {
          throw new TemplateError(
            `the template token ${JSON.stringify(slot.token)} is not in the tokenizer's vocabulary`,
          );
        }
        ids.push(id);
      } else {
        const id = slot.special === 'bos_token' ? tokenizer.bosTokenId : tokenizer.eosTokenId;
        if (id !== null) ids.push(id);
      }
    }
    return ids;
  });
}

function addOrReplaceEos(tokenizer: Tokenizer, eosToken: string, log: LogFn): number {
  if (tokenizer.eosToken === eosToken) return 0;
  const isAdded = tokenizer.eosTokenId === null;
  const count = tokenizer.addSpecialTokens({ eosToken });
  log('info', `${isAdded ? 'Add' : 'Replace'} eos token: ${tokenizer.eosToken}.`);
  if (count > 0) log('warning', 'New tokens have been added, make sure `resize_vocab` is True.');
  return count;
}

function defaultLog(level: 'info' | 'warning', message: string): void {
  if (level === 'warning') console.warn(`[lmforge] ${message}`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function jinjaEscape(text: string): string {
  return text.replaceAll("'", "\\'");
}

function slotsToJinja(slots: Slot[], tokenizer: Tokenizer, placeholder = 'content'): string {
  const items: string[] = [];
  for (const slot of slots) {
    if (typeof slot === 'string') {
      const pieces = slot.split('{{content}}');
      if (pieces[0]) items.push(`'${jinjaEscape(pieces[0])}'`);
      if (pieces.length > 1) {
        items.push(placeholder);
        if (pieces[1]) items.push(`'${jinjaEscape(pieces[1])}'`);
      }
    } else if ('special' in slot) {
      // The token's text, not {{ eos_token }}: the EOS may be replaced after saving.
      const token = slot.special === 'bos_token' ? tokenizer.bosToken : tokenizer.eosToken;
      const id = slot.special === 'bos_token' ? tokenizer.bosTokenId : tokenizer.eosTokenId;
      if (token !== null && id !== null) items.push(`'${token}'`);
    } else {
      throw new TemplateError('a template with {token} slots cannot be written as a jinja template');
    }
  }
  return items.join(' + ');
}

function slotsToOllama(slots: Slot[], tokenizer: Tokenizer, placeholder = 'content'): string {
  const items: string[] = [];
  for (const slot of slots) {
    if (typeof slot === 'string') {
      const pieces = slot.split('{{content}}');
      if (pieces[0]) items.push(pieces[0]);
      if (pieces.length > 1) {
        items.push(`{{ ${placeholder} }}`);
        if (pieces[1]) items.push(pieces[1]);
      }
    } else if ('special' in slot) {
      const token = slot.special === 'bos_token' ? tokenizer.bosToken : tokenizer.eosToken;
      if (token !== null) items.push(token);
    } else {
      throw new TemplateError('a template with {token} slots cannot be written as an Ollama template');
    }
  }
  return items.join('');
}
