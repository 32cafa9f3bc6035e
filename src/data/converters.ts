/**
 * Align records of every dataset format to LLaMA-Factory's standard schema:
 *
 *   _prompt:   Message[]  (2T - 1 messages: user/observation at even positions, assistant/function at odd ones)
 *   _response: Message[]  (1 for sft; [chosen, rejected] for ranking; [desired, ""] or ["", undesired] for KTO;
 *                          [] for unsupervised/pretrain)
 *   _system, _tools: string; _images, _videos, _audios: media lists or null
 *
 * Where LLaMA-Factory logs "Skipping this abnormal example" (or crashes on a missing key) and later drops the record,
 * we return the field and the rule it broke so the caller can report it and drop the record.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pythonJsonText } from '../util/python-json.js';
import type { DatasetAttr, DatasetTags } from './dataset-info.js';
import { typeName } from './dataset-info.js';
import type { DataRow } from './loaders.js';
import type { Message, Role } from './message.js';
import { convertText2Sql, type Text2SqlMeta } from './text2sql.js';

export type { Message, Role };

export type Media = string | string[] | Record<string, unknown>;

export interface AlignedExample {
  _prompt: Message[];
  _response: Message[];
  _system: string;
  _tools: string;
  _images: Media[] | null;
  _videos: Media[] | null;
  _audios: Media[] | null;
  /** text2sql only: the record's database, for the sql_execution metric */
  _sql?: Text2SqlMeta;
}

export interface Violation {
  field: string;
  rule: string;
}

export type ConvertResult = { ok: true; example: AlignedExample } | ({ ok: false } & Violation);

export interface ConvertContext {
  /** LLaMA-Factory's `media_dir` (defaults to dataset_dir): relative media paths of local datasets resolve here */
  mediaDir: string;
}

class RecordError extends Error {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`${field}: ${rule}`);
  }
}

const fail = (field: string, rule: string): never => {
  throw new RecordError(field, rule);
};

/** Converts one record with the converter of `attr.formatting`. */
export function convertRecord(row: DataRow, attr: DatasetAttr, ctx: ConvertContext): ConvertResult {
  try {
    const example =
      attr.formatting === 'alpaca'
        ? convertAlpaca(row, attr, ctx)
        : attr.formatting === 'sharegpt'
          ? convertSharegpt(row, attr, ctx)
          : attr.formatting === 'text2sql'
            ? convertSql(row, attr, ctx)
            : convertOpenai(row, attr, ctx);
    return { ok: true, example };
  } catch (err) {
    if (err instanceof RecordError) return { ok: false, field: err.field, rule: err.rule };
    throw err;
  }
}

function optText(row: DataRow, column: string | null, what: string): string | null {
  if (column === null) return null;
  const v = row[column];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') fail(column, `${what} must be text, got ${typeName(v)}`);
  return v as string;
}

function toolsOf(row: DataRow, attr: DatasetAttr): string {
  const col = attr.columns.tools;
  if (col === null) return '';
  const v = row[col];
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : pythonJsonText(v);
}

function mediaOf(row: DataRow, column: string | null, attr: DatasetAttr, ctx: ConvertContext): Media[] | null {
  if (column === null) return null;
  const v = row[column];
  if (v === undefined || v === null) return null;
  const list = Array.isArray(v) ? [...(v as Media[])] : [v as Media];
  if (list.length === 0) return null;
  if (attr.load_from !== 'file' && attr.load_from !== 'script') return list;
  const resolveOne = (m: unknown): unknown => {
    if (typeof m !== 'string') return m;
    const p = join(ctx.mediaDir, m);
    return existsSync(p) && statSync(p).isFile() ? p : m;
  };
  return list.map((m) => (Array.isArray(m) ? (m.map(resolveOne) as string[]) : (resolveOne(m) as Media)));
}

function ktoTagOf(row: DataRow, attr: DatasetAttr): boolean | null {
  const col = attr.columns.kto_tag;
  if (col === null) return null;
  const v = row[col];
  if (typeof v !== 'boolean') fail(col, `kto_tag must be true or false, got ${typeName(v)}`);
  return v as boolean;
}

/** KTO keeps the judged answer in the slot its label names and an empty assistant message in the other. */
function ktoResponse(answer: Message, desirable: boolean): Message[] {
  const empty: Message = { role: 'assistant', content: '' };
  return desirable ? [answer, empty] : [empty, answer];
}

function convertAlpaca(row: DataRow, attr: DatasetAttr, ctx: ConvertContext): AlignedExample {
  const c = attr.columns;
  const prompt: Message[] = [];
  if (c.history !== null) {
    const h = row[c.history];
    if (Array.isArray(h)) {
      h.forEach((pair, i) => {
        if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
          fail(
            `${c.history}[${i}]`,
            `each history item must be a [prompt, response] pair of texts, got ${typeName(pair)}`,
          );
        }
        prompt.push({ role: 'user', content: pair[0] }, { role: 'assistant', content: pair[1] });
      });
    } else if (h !== undefined && h !== null && h !== '') {
      fail(c.history, `history must be a list of [prompt, response] pairs, got ${typeName(h)}`);
    }
  }
  // "instruction\ninput", leaving out whichever is empty
  const parts = [optText(row, c.prompt, 'the prompt'), optText(row, c.query, 'the query')].filter(
    (s): s is string => !!s,
  );
  prompt.push({ role: 'user', content: parts.join('\n') });

  let response: Message[];
  const kto = ktoTagOf(row, attr);
  if (kto !== null) {
    const answer = optText(row, c.response, 'the response');
    if (answer === null) fail(c.response ?? 'response', 'a KTO record needs a response to judge');
    response = ktoResponse({ role: 'assistant', content: answer as string }, kto);
  } else if (attr.ranking) {
    const chosen = optText(row, c.chosen, 'chosen');
    const rejected = optText(row, c.rejected, 'rejected');
    if (chosen === null) fail(c.chosen ?? 'chosen', 'a ranking record needs a chosen answer (set columns.chosen)');
    if (rejected === null)
      fail(c.rejected ?? 'rejected', 'a ranking record needs a rejected answer (set columns.rejected)');
    response = [
      { role: 'assistant', content: chosen as string },
      { role: 'assistant', content: rejected as string },
    ];
  } else {
    const answer = optText(row, c.response, 'the response');
    response = answer === null ? [] : [{ role: 'assistant', content: answer }];
  }

  return {
    _prompt: prompt,
    _response: response,
    _system: optText(row, c.system, 'the system prompt') ?? '',
    _tools: toolsOf(row, attr),
    _images: mediaOf(row, c.images, attr, ctx),
    _videos: mediaOf(row, c.videos, attr, ctx),
    _audios: mediaOf(row, c.audios, attr, ctx),
  };
}

function convertSql(row: DataRow, attr: DatasetAttr, ctx: ConvertContext): AlignedExample {
  if (!attr.text2sql) throw new Error(`dataset ${attr.name} has formatting text2sql but no text2sql attributes`);
  const r = convertText2Sql(row, attr.text2sql, ctx.mediaDir, fail);
  return {
    _prompt: [{ role: 'user', content: r.prompt }],
    _response: r.sql === null ? [] : [{ role: 'assistant', content: r.sql }],
    _system: r.system,
    _tools: '',
    _images: null,
    _videos: null,
    _audios: null,
    _sql: r.meta,
  };
}

function tagMapping(tags: DatasetTags): Map<string, Role> {
  const m = new Map<string, Role>();
  const pairs: [string | null, Role][] = [
    [tags.user_tag, 'user'],
    [tags.assistant_tag, 'assistant'],
    [tags.observation_tag, 'observation'],
    [tags.function_tag, 'function'],
    [tags.system_tag, 'system'],
  ];
  for (const [tag, role] of pairs) if (tag !== null && !m.has(tag)) m.set(tag, role);
  return m;
}

const USER_SIDE: readonly Role[] = ['user', 'observation'];
const ASSISTANT_SIDE: readonly Role[] = ['assistant', 'function'];

function messagesOf(row: DataRow, attr: DatasetAttr): { col: string; list: Record<string, unknown>[] } {
  const col = attr.columns.messages;
  if (col === null) return fail('messages', 'the dataset has no messages column (set columns.messages)');
  const list = row[col as string];
  if (!Array.isArray(list)) fail(col as string, `must be a list of messages, got ${typeName(list)}`);
  (list as unknown[]).forEach((m, i) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) {
      fail(`${col}[${i}]`, `each message must be an object, got ${typeName(m)}`);
    }
  });
  return { col: col as string, list: list as Record<string, unknown>[] };
}

function roleTagOf(attr: DatasetAttr): string {
  return attr.tags.role_tag ?? fail('tags.role_tag', 'no role key is configured for messages');
}

function contentTagOf(attr: DatasetAttr): string {
  return attr.tags.content_tag ?? fail('tags.content_tag', 'no content key is configured for messages');
}

function sideName(attr: DatasetAttr, side: readonly Role[]): string {
  const t = attr.tags;
  const names = side === USER_SIDE ? [t.user_tag, t.observation_tag] : [t.assistant_tag, t.function_tag];
  return names
    .filter((n): n is string => n !== null)
    .map((n) => `"${n}"`)
    .join(' or ');
}

/** The leading system message (when the system tag is configured), else the system column. */
function splitSystem(
  row: DataRow,
  attr: DatasetAttr,
  list: Record<string, unknown>[],
  col: string,
): { system: string; rest: Record<string, unknown>[]; offset: number } {
  const roleTag = roleTagOf(attr);
  const first = list[0];
  if (attr.tags.system_tag !== null && first !== undefined && first[roleTag] === attr.tags.system_tag) {
    const content = first[contentTagOf(attr)];
    if (typeof content !== 'string') fail(`${col}[0].${contentTagOf(attr)}`, `must be text, got ${typeName(content)}`);
    return { system: content as string, rest: list.slice(1), offset: 1 };
  }
  return { system: optText(row, attr.columns.system, 'the system prompt') ?? '', rest: list, offset: 0 };
}

/** Splits aligned turns into prompt and response by the record kind (KTO, ranking, plain). */
function finishConversation(
  row: DataRow,
  attr: DatasetAttr,
  turns: Message[],
  toMessage: (m: unknown, field: string) => Message,
  where: string,
): { prompt: Message[]; response: Message[] } {
  if (turns.length === 0) fail(where, 'the conversation is empty');
  if (attr.ranking) {
    if (turns.length % 2 === 0) {
      fail(where, `a ranking conversation must end with a user turn (odd count), but it has ${turns.length} messages`);
    }
    const chosenCol = attr.columns.chosen ?? fail('chosen', 'a ranking dataset needs columns.chosen');
    const rejectedCol = attr.columns.rejected ?? fail('rejected', 'a ranking dataset needs columns.rejected');
    const chosen = toMessage(row[chosenCol], chosenCol);
    const rejected = toMessage(row[rejectedCol], rejectedCol);
    for (const [m, f] of [
      [chosen, chosenCol],
      [rejected, rejectedCol],
    ] as const) {
      if (!ASSISTANT_SIDE.includes(m.role)) fail(f, `must be an answer (${sideName(attr, ASSISTANT_SIDE)})`);
    }
    return { prompt: turns, response: [chosen, rejected] };
  }
  if (turns.length % 2 !== 0) {
    fail(where, `the conversation must end with an answer (even count), but it has ${turns.length} messages`);
  }
  const prompt = turns.slice(0, -1);
  const last = turns[turns.length - 1] as Message;
  const kto = ktoTagOf(row, attr);
  return { prompt, response: kto === null ? [last] : ktoResponse(last, kto) };
}

function convertSharegpt(row: DataRow, attr: DatasetAttr, ctx: ConvertContext): AlignedExample {
  const { col, list } = messagesOf(row, attr);
  const roleTag = roleTagOf(attr);
  const contentTag = contentTagOf(attr);
  const mapping = tagMapping(attr.tags);
  const { system, rest, offset } = splitSystem(row, attr, list, col);
  const toMessage = (m: unknown, field: string): Message => {
    if (typeof m !== 'object' || m === null || Array.isArray(m))
      fail(field, `must be a message object, got ${typeName(m)}`);
    const msg = m as Record<string, unknown>;
    const tag = msg[roleTag];
    const role = typeof tag === 'string' ? mapping.get(tag) : undefined;
    if (role === undefined) fail(`${field}.${roleTag}`, `unknown role ${typeName(tag)}`);
    const content = msg[contentTag];
    if (typeof content !== 'string') fail(`${field}.${contentTag}`, `must be text, got ${typeName(content)}`);
    return { role: role as Role, content: content as string };
  };
  const turns = rest.map((m, i) => {
    const field = `${col}[${i + offset}]`;
    const side = i % 2 === 0 ? USER_SIDE : ASSISTANT_SIDE;
    const tag = m[roleTag];
    const role = typeof tag === 'string' ? mapping.get(tag) : undefined;
    if (role === undefined || !side.includes(role)) {
      fail(
        `${field}.${roleTag}`,
        `turn ${i + 1} must be ${sideName(attr, side)} (users/observations take odd turns, ` +
          `answers/function calls even ones), got ${typeName(tag)}`,
      );
    }
    return toMessage(m, field);
  });
  const { prompt, response } = finishConversation(row, attr, turns, toMessage, col);
  return {
    _prompt: prompt,
    _response: response,
    _system: system,
    _tools: toolsOf(row, attr),
    _images: mediaOf(row, attr.columns.images, attr, ctx),
    _videos: mediaOf(row, attr.columns.videos, attr, ctx),
    _audios: mediaOf(row, attr.columns.audios, attr, ctx),
  };
}

/** OpenAI content: text, or a list of parts whose text parts are joined. */
function openaiText(content: unknown, field: string): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p, i) => {
        const part = p as { type?: unknown; text?: unknown };
        if (part?.type !== 'text' || typeof part.text !== 'string') {
          fail(`${field}[${i}]`, `only text content parts are supported, got ${typeName(p)}`);
        }
        return part.text as string;
      })
      .join('');
  }
  return fail(field, `must be text, got ${typeName(content)}`);
}

/**
 * OpenAI messages: an assistant message with `tool_calls` becomes a function message whose content is the JSON
 * list of the calls' `function` objects; consecutive tool results merge into one observation, joined by
 * `\n</tool_response>\n<tool_response>\n`. Tool results after the last assistant message are dropped (as
 * LLaMA-Factory does), so a conversation may end on its tool call.
 */
function convertOpenai(row: DataRow, attr: DatasetAttr, ctx: ConvertContext): AlignedExample {
  const { col, list } = messagesOf(row, attr);
  const roleTag = roleTagOf(attr);
  const contentTag = contentTagOf(attr);
  const mapping = tagMapping(attr.tags);
  const { system, rest, offset } = splitSystem(row, attr, list, col);
  const turns: Message[] = [];
  let toolResponses: string[] = [];
  rest.forEach((m, i) => {
    const field = `${col}[${i + offset}]`;
    let tag = m[roleTag];
    let content: string;
    const calls = m.tool_calls;
    if (
      (tag === attr.tags.assistant_tag || tag === attr.tags.function_tag) &&
      Array.isArray(calls) &&
      calls.length > 0
    ) {
      content = pythonJsonText(
        calls.map((c, j) => {
          const fn = (c as { function?: unknown })?.function;
          if (fn === undefined) fail(`${field}.tool_calls[${j}]`, 'a tool call needs a "function" object');
          return fn;
        }),
      );
      tag = attr.tags.function_tag;
    } else {
      content = openaiText(m[contentTag], `${field}.${contentTag}`);
    }
    if (tag === attr.tags.observation_tag && tag !== null) {
      toolResponses.push(content);
      return;
    }
    if (toolResponses.length > 0) {
      turns.push({ role: 'observation', content: toolResponses.join('\n</tool_response>\n<tool_response>\n') });
      toolResponses = [];
    }
    const role = typeof tag === 'string' ? mapping.get(tag) : undefined;
    if (role === undefined) fail(`${field}.${roleTag}`, `unknown role ${typeName(tag)}`);
    turns.push({ role: role as Role, content });
  });
  turns.forEach((t, i) => {
    const side = i % 2 === 0 ? USER_SIDE : ASSISTANT_SIDE;
    if (!side.includes(t.role)) {
      fail(
        col,
        `aligned turn ${i + 1} is ${t.role} but must be ${side.join(' or ')} ` +
          '(users/tool results take odd turns, answers/tool calls even ones)',
      );
    }
  });
  const toMessage = (m: unknown, field: string): Message => {
    if (typeof m !== 'object' || m === null || Array.isArray(m))
      fail(field, `must be a message object, got ${typeName(m)}`);
    const msg = m as Record<string, unknown>;
    const role = typeof msg[roleTag] === 'string' ? mapping.get(msg[roleTag] as string) : undefined;
    if (role === undefined) fail(`${field}.${roleTag}`, `unknown role ${typeName(msg[roleTag])}`);
    return { role: role as Role, content: openaiText(msg[contentTag], `${field}.${contentTag}`) };
  };
  const { prompt, response } = finishConversation(row, attr, turns, toMessage, col);
  // Deliberately not copied: LLaMA-Factory's openai converter appends "detailed thinking off" to the system prompt
  // (a Nemotron switch); lmforge keeps the user's system prompt as written.
  return {
    _prompt: prompt,
    _response: response,
    _system: system,
    _tools: toolsOf(row, attr),
    _images: mediaOf(row, attr.columns.images, attr, ctx),
    _videos: mediaOf(row, attr.columns.videos, attr, ctx),
    _audios: mediaOf(row, attr.columns.audios, attr, ctx),
  };
}
