import { strftime } from '../../tokenizer/chat-template.js';
import { pythonJsonText } from '../../util/python-json.js';
import { TemplateError } from './errors.js';

/** One tool call: the function name and its arguments as a JSON string (Python's json.dumps spacing). */
export interface FunctionCall {
  name: string;
  arguments: string;
}

type Json = Record<string, unknown>;

/**
 * A tool-calling dialect: how the tool list is described in the system prompt, how an assistant's calls are
 * written, and how calls are read back out of generated text (the inverse of formatFunctions).
 */
export interface ToolUtils {
  formatTools(tools: Json[], now: Date): string;
  formatFunctions(functions: FunctionCall[]): string;
  /** The calls found in a reply, or the reply itself when it holds none. */
  extract(content: string): string | FunctionCall[];
}

/** LLaMA-Factory's tool prompts, verbatim: they become training text. */
const DEFAULT_TOOL_PROMPT =
  'You have access to the following tools:\n{tool_text}' +
  'Use the following format if using a tool:\n' +
  '```\n' +
  'Action: tool name (one of [{tool_names}])\n' +
  'Action Input: the input to the tool, in a JSON format representing the kwargs ' +
  '(e.g. ```{"input": "hello world", "num_beams": 5}```)\n' +
  '```\n';

const GLM4_TOOL_PROMPT =
  '你是一个名为 ChatGLM 的人工智能助手。你是基于智谱 AI 公司训练的语言模型 GLM-4 模型开发的，' +
  '你的任务是针对用户的问题和要求提供适当的答复和支持。\n\n# 可用工具{tool_text}';

const LLAMA3_TOOL_PROMPT =
  'Cutting Knowledge Date: December 2023\nToday Date: {date}\n\n' +
  'You have access to the following functions. To call a function, please respond with JSON for a function call. ' +
  'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}. ' +
  'Do not use variables.\n\n{tool_text}';

const QWEN_TOOL_PROMPT =
  '\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' +
  'You are provided with function signatures within <tools></tools> XML tags:\n<tools>{tool_text}' +
  '\n</tools>\n\nFor each function call, return a json object with function name and arguments within ' +
  '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, ' +
  '"arguments": <args-json-object>}\n</tool_call>';

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(tool_text|tool_names|date)\}/g, (_, key: string) => values[key] ?? '');
}

// Python truthiness of a JSON value from a tool schema (an empty dict or list is false).
function isNonEmpty(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && Object.keys(value).length > 0;
}

/** `{type: 'function', function: {...}}` -> the inner function; a bare function schema stays as is. */
function unwrap(tool: Json): Json {
  return tool.type === 'function' ? ((tool.function ?? {}) as Json) : tool;
}

function wrap(tool: Json): Json {
  return tool.type === 'function' ? tool : { type: 'function', function: tool };
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** Python's str.strip(chars): strips any of the characters from both ends. */
function stripChars(text: string, chars: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && chars.includes(text[start]!)) start++;
  while (end > start && chars.includes(text[end - 1]!)) end--;
  return text.slice(start, end);
}

/** Calls written as {"name", <key>} objects (a single one or a list); null when the shape does not fit. */
function callsFromJson(value: unknown, argumentsKey: string): FunctionCall[] | null {
  const list = Array.isArray(value) ? value : [value];
  const calls: FunctionCall[] = [];
  for (const item of list) {
    if (item === null || typeof item !== 'object' || !('name' in item) || !(argumentsKey in item)) return null;
    const call = item as Json;
    calls.push({ name: String(call.name), arguments: pythonJsonText(call[argumentsKey]) });
  }
  return calls;
}

const defaultTools: ToolUtils = {
  formatTools(tools) {
    let toolText = '';
    const names: string[] = [];
    for (const raw of tools) {
      const tool = unwrap(raw);
      const parameters = (tool.parameters ?? {}) as Json;
      const required = (parameters.required ?? []) as string[];
      let paramText = '';
      for (const [name, p] of Object.entries((parameters.properties ?? {}) as Record<string, Json>)) {
        const req = required.includes(name) ? ', required' : '';
        const enumText = Array.isArray(p.enum) && p.enum.length > 0 ? `, should be one of [${p.enum.join(', ')}]` : '';
        const items = isNonEmpty(p.items) ? `, where each item should be ${(p.items as Json).type ?? ''}` : '';
        paramText += `  - ${name} (${p.type ?? ''}${req}): ${p.description ?? ''}${enumText}${items}\n`;
      }
      toolText += `> Tool Name: ${tool.name}\nTool Description: ${tool.description ?? ''}\nTool Args:\n${paramText}\n`;
      names.push(String(tool.name));
    }
    return fill(DEFAULT_TOOL_PROMPT, { tool_text: toolText, tool_names: names.join(', ') });
  },
  formatFunctions(functions) {
    return functions.map((f) => `Action: ${f.name}\nAction Input: ${f.arguments}`).join('\n');
  },
  extract(content) {
    const regex = /Action:\s*([a-zA-Z0-9_]+)\s*Action Input:\s*([\s\S]+?)(?=\s*Action:|\s*$)/g;
    const matches = [...content.matchAll(regex)];
    if (matches.length === 0) return content;
    const calls: FunctionCall[] = [];
    for (const m of matches) {
      const input = stripChars(stripChars(m[2]!.trim(), '"'), '`');
      const parsed = parseJson(input);
      if (!parsed.ok) return content;
      calls.push({ name: m[1]!.trim(), arguments: pythonJsonText(parsed.value) });
    }
    return calls;
  },
};

const glm4Tools: ToolUtils = {
  formatTools(tools) {
    let toolText = '';
    for (const raw of tools) {
      const tool = unwrap(raw);
      toolText += `\n\n## ${tool.name}\n\n${pythonJsonText(tool, 4)}\n在调用上述函数时，请使用 Json 格式表示调用的参数。`;
    }
    return fill(GLM4_TOOL_PROMPT, { tool_text: toolText });
  },
  formatFunctions(functions) {
    if (functions.length > 1)
      throw new TemplateError('GLM-4 does not support parallel functions: send one call per turn');
    const f = functions[0]!;
    return `${f.name}\n${f.arguments}`;
  },
  extract(content) {
    const newline = content.indexOf('\n');
    if (newline < 0) return content;
    const parsed = parseJson(content.slice(newline + 1).trim());
    if (!parsed.ok) return content;
    return [{ name: content.slice(0, newline), arguments: pythonJsonText(parsed.value) }];
  },
};

const llama3Tools: ToolUtils = {
  formatTools(tools, now) {
    const toolText = tools.map((tool) => `${pythonJsonText(wrap(tool), 4)}\n\n`).join('');
    return fill(LLAMA3_TOOL_PROMPT, { date: strftime(now, '%d %b %Y'), tool_text: toolText });
  },
  formatFunctions(functions) {
    const objects = functions.map((f) => ({ name: f.name, parameters: JSON.parse(f.arguments) as unknown }));
    return pythonJsonText(objects.length === 1 ? objects[0] : objects);
  },
  extract(content) {
    const parsed = parseJson(content.trim());
    if (!parsed.ok) return content;
    return callsFromJson(parsed.value, 'parameters') ?? content;
  },
};

const mistralTools: ToolUtils = {
  formatTools(tools) {
    return `[AVAILABLE_TOOLS] ${pythonJsonText(tools.map(wrap))}[/AVAILABLE_TOOLS]`;
  },
  formatFunctions(functions) {
    return pythonJsonText(functions.map((f) => ({ name: f.name, arguments: JSON.parse(f.arguments) as unknown })));
  },
  extract(content) {
    const parsed = parseJson(content.trim());
    if (!parsed.ok) return content;
    return callsFromJson(parsed.value, 'arguments') ?? content;
  },
};

const qwenTools: ToolUtils = {
  formatTools(tools) {
    const toolText = tools.map((tool) => `\n${pythonJsonText(wrap(tool))}`).join('');
    return fill(QWEN_TOOL_PROMPT, { tool_text: toolText });
  },
  formatFunctions(functions) {
    return functions
      .map(
        (f) =>
          `<tool_call>\n${pythonJsonText({ name: f.name, arguments: JSON.parse(f.arguments) as unknown })}\n</tool_call>`,
      )
      .join('\n');
  },
  extract(content) {
    const matches = [...content.matchAll(/<tool_call>([\s\S]+?)<\/tool_call>(?=\s*<tool_call>|\s*$)/g)];
    if (matches.length === 0) return content;
    const calls: FunctionCall[] = [];
    for (const m of matches) {
      const parsed = parseJson(m[1]!.trim());
      if (!parsed.ok) return content;
      const one = callsFromJson(parsed.value, 'arguments');
      if (one === null || Array.isArray(parsed.value)) return content;
      calls.push(...one);
    }
    return calls;
  },
};

const TOOL_FORMATS: Record<string, ToolUtils> = {
  default: defaultTools,
  glm4: glm4Tools,
  llama3: llama3Tools,
  mistral: mistralTools,
  qwen: qwenTools,
};

export function getToolUtils(name: string): ToolUtils {
  const utils = TOOL_FORMATS[name];
  if (utils === undefined) {
    throw new TemplateError(`tool format "${name}" is not known; use one of: ${Object.keys(TOOL_FORMATS).join(', ')}`);
  }
  return utils;
}

export const TOOL_FORMAT_NAMES = Object.keys(TOOL_FORMATS);
