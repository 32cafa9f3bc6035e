/**
 * `POST /v1/chat/completions` bodies -> the engine's messages and options, with LLaMA-Factory's conversation rules:
 * an optional first system message, then user/assistant turns alternating and ending on the user's (or a tool's)
 * turn. An assistant turn that called tools becomes a `function` message holding the calls as Python's json.dumps
 * writes them, and a tool result an `observation`, exactly as training data is formatted.
 */

import type { GenerationOptions, Message, ToolDefinition } from '../infer/chat-engine.js';
import { MAX_TOP_LOGPROBS } from '../infer/logprobs.js';
import { pythonJsonText } from '../util/python-json.js';
import { invalidRequest } from './errors.js';
import { parseResponseFormat } from './response-format.js';
import {
  describe,
  fieldError,
  generationOptions,
  isObject,
  type Json,
  optionalBoolean,
  optionalInteger,
  refuseUnsupported,
  requireObject,
  requireString,
  streamIncludeUsage,
} from './validate.js';

/** The most choices one request may ask for: each costs a full generation. */
export const MAX_CHOICES = 16;

export interface ChatRequest {
  model: string;
  messages: Message[];
  stream: boolean;
  includeUsage: boolean;
  options: GenerationOptions;
}

const OPENAI_ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const;
type OpenAiRole = (typeof OPENAI_ROLES)[number];

export function parseChatRequest(raw: unknown): ChatRequest {
  const body = requireObject(raw, null);
  const model = requireString(body, 'model');
  refuseUnsupported(body, ['logit_bias', 'audio', 'prediction']);
  const { system, messages } = parseMessages(body.messages);
  const tools = parseTools(body);
  const stream = optionalBoolean(body, 'stream') ?? false;
  const n = optionalInteger(body, 'n', 1, MAX_CHOICES) ?? 1;
  if (stream && n > 1) throw invalidRequest('Cannot stream multiple responses: use n = 1 with stream.', 'n');
  if (stream && tools) throw invalidRequest('Cannot stream function calls: leave out stream or tools.', 'stream');
  const doSample = optionalBoolean(body, 'do_sample');
  const options = generationOptions(body, n, ['max_completion_tokens', 'max_tokens']);
  // LLaMA-Factory's mapping: temperature 0 (or do_sample false) is greedy decoding.
  if (doSample === false) options.temperature = 0;
  if (tools) options.tools = tools;
  if (system !== undefined) options.system = system;
  const logprobs = parseLogprobs(body);
  if (logprobs !== undefined) options.logprobs = logprobs;
  const responseFormat = parseResponseFormat(body);
  if (responseFormat) options.responseFormat = responseFormat;
  return {
    model,
    messages,
    stream,
    includeUsage: streamIncludeUsage(body),
    options,
  };
}

/** `logprobs: true` with `top_logprobs` alternatives (0..20) -> the engine's count; undefined when off. */
function parseLogprobs(body: Json): number | undefined {
  const on = optionalBoolean(body, 'logprobs') ?? false;
  const top = optionalInteger(body, 'top_logprobs', 0, MAX_TOP_LOGPROBS);
  if (top !== undefined && !on)
    throw invalidRequest("'top_logprobs' needs 'logprobs': true.", 'top_logprobs', 'invalid_value');
  return on ? (top ?? 0) : undefined;
}

function parseMessages(raw: unknown): { system: string | undefined; messages: Message[] } {
  if (!Array.isArray(raw)) throw fieldError('messages', 'a list of {role, content} messages', raw);
  if (raw.length === 0) throw invalidRequest("'messages' is empty: send at least one user message.", 'messages');
  const parsed = raw.map((m, i) => parseMessage(m, `messages[${i}]`));
  let system: string | undefined;
  let start = 0;
  if (parsed[0]!.role === 'system' || parsed[0]!.role === 'developer') {
    system = parsed[0]!.content;
    start = 1;
  }
  const turns = parsed.slice(start);
  const rule =
    'Messages must be an optional first system message, then user/assistant turns alternating (a tool result ' +
    'takes the place of a user turn), ending with a user or tool message.';
  if (turns.length === 0) throw invalidRequest(`Only a system message was sent. ${rule}`, 'messages');
  const messages: Message[] = turns.map((m, k) => {
    const param = `messages[${k + start}].role`;
    if (k % 2 === 0 && m.role !== 'user' && m.role !== 'tool') {
      throw invalidRequest(`${param} is '${m.role}' where a user or tool message belongs. ${rule}`, param);
    }
    if (k % 2 === 1 && m.role !== 'assistant' && m.role !== 'function') {
      throw invalidRequest(`${param} is '${m.role}' where an assistant message belongs. ${rule}`, param);
    }
    if (m.toolCalls) return { role: 'function', content: pythonJsonText(m.toolCalls) };
    return { role: m.role === 'tool' ? 'observation' : (m.role as Message['role']), content: m.content };
  });
  if (turns.length % 2 === 0) {
    throw invalidRequest(`The last message is an assistant message. ${rule}`, `messages[${raw.length - 1}].role`);
  }
  return { system, messages };
}

interface ParsedMessage {
  role: OpenAiRole;
  content: string;
  toolCalls?: { name: string; arguments: string }[];
}

function parseMessage(raw: unknown, param: string): ParsedMessage {
  const m = requireObject(raw, param);
  const role = m.role;
  if (typeof role !== 'string' || !(OPENAI_ROLES as readonly string[]).includes(role)) {
    throw fieldError(`${param}.role`, `one of ${OPENAI_ROLES.join(', ')}`, role, 'invalid_role');
  }
  const out: ParsedMessage = { role: role as OpenAiRole, content: parseContent(m.content, `${param}.content`) };
  if (role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length > 0) {
    out.toolCalls = m.tool_calls.map((c, j) => {
      const call = requireObject(c, `${param}.tool_calls[${j}]`);
      const fn = requireObject(call.function, `${param}.tool_calls[${j}].function`);
      return {
        name: requireString(fn, 'name', `${param}.tool_calls[${j}].function.name`),
        arguments: requireString(fn, 'arguments', `${param}.tool_calls[${j}].function.arguments`),
      };
    });
  } else if (m.content == null) {
    throw invalidRequest(
      `${param}.content is missing: only an assistant message with tool_calls may omit it.`,
      `${param}.content`,
    );
  }
  return out;
}

/** A string, or a list of text parts joined by newlines. Images are refused: this server serves text models. */
function parseContent(raw: unknown, param: string): string {
  if (raw == null) return '';
  if (typeof raw === 'string') return raw;
  if (!Array.isArray(raw)) {
    throw fieldError(param, 'a string or a list of {type: "text", text} parts', raw);
  }
  return raw
    .map((p, j) => {
      const part = requireObject(p, `${param}[${j}]`);
      if (part.type !== 'text') {
        throw invalidRequest(
          `${param}[${j}].type is ${describe(part.type)}: only 'text' parts are supported by this text-only server.`,
          `${param}[${j}].type`,
        );
      }
      return requireString(part, 'text', `${param}[${j}].text`);
    })
    .join('\n');
}

function parseTools(body: Json): ToolDefinition[] | undefined {
  const choice = body.tool_choice;
  if (choice != null && choice !== 'auto' && choice !== 'none') {
    throw invalidRequest("'tool_choice' supports only 'auto' and 'none' here.", 'tool_choice', 'unsupported_parameter');
  }
  const raw = body.tools;
  if (raw == null || choice === 'none') return undefined;
  if (!Array.isArray(raw)) throw fieldError('tools', 'a list of {type: "function", function} tools', raw);
  if (raw.length === 0) return undefined;
  return raw.map((t, i) => {
    const tool = requireObject(t, `tools[${i}]`);
    if (tool.type !== 'function') {
      throw fieldError(`tools[${i}].type`, "'function'", tool.type);
    }
    const fn = requireObject(tool.function, `tools[${i}].function`);
    const def: ToolDefinition = { name: requireString(fn, 'name', `tools[${i}].function.name`) };
    if (fn.description != null) def.description = requireString(fn, 'description', `tools[${i}].function.description`);
    if (fn.parameters != null) {
      if (!isObject(fn.parameters)) {
        throw invalidRequest(
          `tools[${i}].function.parameters must be a JSON Schema object.`,
          `tools[${i}].function.parameters`,
        );
      }
      def.parameters = fn.parameters;
    }
    return def;
  });
}
