import { BOS, EmptyFormatter, EOS, FunctionFormatter, type Slot, StringFormatter, ToolFormatter } from './formatter.js';
import { Llama2Template, ReasoningTemplate, Template, type TemplateFields, type TemplateKind } from './template.js';

/** A template as LLaMA-Factory's register_template takes it: slots instead of formatter objects. */
export interface TemplateDefinition {
  name: string;
  user?: Slot[];
  assistant?: Slot[];
  system?: Slot[];
  /** Slots of a tool-calling assistant turn and its tool dialect. */
  function?: { slots: Slot[]; toolFormat: string };
  observation?: Slot[];
  /** Tool dialect of the tool list in the system prompt. */
  toolFormat?: string;
  prefix?: Slot[];
  defaultSystem?: string;
  stopWords?: string[];
  thoughtWords?: [string, string];
  toolCallWords?: [string, string];
  efficientEos?: boolean;
  replaceEos?: boolean;
  replaceJinjaTemplate?: boolean;
  enableThinking?: boolean | null;
  kind?: TemplateKind;
}

const TEMPLATES = new Map<string, Template>();

/** Builds a template with LLaMA-Factory's defaults for the unset fields. */
export function defineTemplate(def: TemplateDefinition): Template {
  const efficientEos = def.efficientEos ?? false;
  const defaultSlots: Slot[] = efficientEos ? ['{{content}}'] : ['{{content}}', EOS];
  const fields: TemplateFields = {
    name: def.name,
    kind: def.kind ?? 'default',
    formatUser: new StringFormatter(def.user ?? ['{{content}}']),
    formatAssistant: new StringFormatter(def.assistant ?? defaultSlots),
    // The system turn defaults to bare content, not to the user's layout.
    formatSystem: new StringFormatter(def.system ?? ['{{content}}']),
    formatFunction: def.function
      ? new FunctionFormatter(def.function.slots, def.function.toolFormat)
      : new FunctionFormatter(def.assistant ?? defaultSlots, 'default'),
    formatObservation: new StringFormatter(def.observation ?? def.user ?? ['{{content}}']),
    formatTools: new ToolFormatter(def.toolFormat ?? 'default'),
    formatPrefix: new EmptyFormatter(def.prefix ?? []),
    defaultSystem: def.defaultSystem ?? '',
    stopWords: def.stopWords ?? [],
    thoughtWords: def.thoughtWords ?? ['<think>\n', '\n</think>\n\n'],
    toolCallWords: def.toolCallWords ?? ['<tool_call>', '</tool_call>'],
    efficientEos,
    replaceEos: def.replaceEos ?? false,
    replaceJinjaTemplate: def.replaceJinjaTemplate ?? false,
    enableThinking: def.enableThinking === undefined ? true : def.enableThinking,
  };
  if (fields.kind === 'llama2') return new Llama2Template(fields);
  if (fields.kind === 'reasoning') return new ReasoningTemplate(fields);
  return new Template(fields);
}

export function registerTemplate(def: TemplateDefinition): void {
  if (TEMPLATES.has(def.name)) throw new Error(`template ${def.name} is already registered`);
  TEMPLATES.set(def.name, defineTemplate(def));
}

/** The registered template itself (shared): use getTemplate for a configured copy. */
export function registeredTemplate(name: string): Template | undefined {
  return TEMPLATES.get(name);
}

export function templateNames(): string[] {
  return [...TEMPLATES.keys()].sort();
}

// ---- LLaMA-Factory's templates (text verbatim: it is what the models were trained on) ----------------------

const IM_USER = '<|im_start|>user\n{{content}}<|im_end|>\n<|im_start|>assistant\n';
const IM_ASSISTANT = '{{content}}<|im_end|>\n';
const IM_SYSTEM = '<|im_start|>system\n{{content}}<|im_end|>\n';
const IM_TOOL_OBSERVATION = '<|im_start|>tool\n{{content}}<|im_end|>\n<|im_start|>assistant\n';
const QWEN_OBSERVATION =
  '<|im_start|>user\n<tool_response>\n{{content}}\n</tool_response><|im_end|>\n<|im_start|>assistant\n';
const VICUNA_SYSTEM =
  'A chat between a curious user and an artificial intelligence assistant. ' +
  "The assistant gives helpful, detailed, and polite answers to the user's questions.";
const LLAMA3_USER =
  '<|start_header_id|>user<|end_header_id|>\n\n{{content}}<|eot_id|>' +
  '<|start_header_id|>assistant<|end_header_id|>\n\n';
const GEMMA_USER = '<start_of_turn>user\n{{content}}<end_of_turn>\n<start_of_turn>model\n';
const GEMMA_OBSERVATION = '<start_of_turn>tool\n{{content}}<end_of_turn>\n<start_of_turn>model\n';
const GLM4_FIELDS: Omit<TemplateDefinition, 'name'> = {
  user: ['<|user|>\n{{content}}<|assistant|>'],
  assistant: ['\n{{content}}'],
  system: ['<|system|>\n{{content}}'],
  function: { slots: ['{{content}}'], toolFormat: 'glm4' },
  observation: ['<|observation|>\n{{content}}<|assistant|>'],
  toolFormat: 'glm4',
  prefix: ['[gMASK]<sop>'],
  stopWords: ['<|user|>', '<|observation|>'],
  efficientEos: true,
};
const QWEN_FIELDS: Omit<TemplateDefinition, 'name'> = {
  user: [IM_USER],
  assistant: [IM_ASSISTANT],
  system: [IM_SYSTEM],
  function: { slots: [IM_ASSISTANT], toolFormat: 'qwen' },
  observation: [QWEN_OBSERVATION],
  toolFormat: 'qwen',
  stopWords: ['<|im_end|>'],
  replaceEos: true,
};
const MISTRAL_FIELDS: Omit<TemplateDefinition, 'name'> = {
  user: ['[INST] {{content}}[/INST]'],
  assistant: [' {{content}}', EOS],
  system: ['{{content}}\n\n'],
  function: { slots: ['[TOOL_CALLS] {{content}}', EOS], toolFormat: 'mistral' },
  observation: ['[TOOL_RESULTS] {"content": {{content}}}[/TOOL_RESULTS]'],
  toolFormat: 'mistral',
  prefix: [BOS],
  kind: 'llama2',
};

const DEFINITIONS: TemplateDefinition[] = [
  {
    name: 'alpaca',
    user: ['### Instruction:\n{{content}}\n\n### Response:\n'],
    assistant: ['{{content}}', EOS, '\n\n'],
    defaultSystem:
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n',
    replaceJinjaTemplate: true,
  },
  {
    name: 'baichuan2',
    user: ['<reserved_106>{{content}}<reserved_107>'],
    efficientEos: true,
  },
  {
    name: 'chatglm3',
    user: [{ token: '<|user|>' }, '\n', '{{content}}', { token: '<|assistant|>' }],
    assistant: ['\n', '{{content}}'],
    system: [{ token: '<|system|>' }, '\n', '{{content}}'],
    function: { slots: ['{{content}}'], toolFormat: 'glm4' },
    observation: [{ token: '<|observation|>' }, '\n', '{{content}}', { token: '<|assistant|>' }],
    toolFormat: 'glm4',
    prefix: [{ token: '[gMASK]' }, { token: 'sop' }],
    stopWords: ['<|user|>', '<|observation|>'],
    efficientEos: true,
  },
  {
    name: 'chatml',
    user: [IM_USER],
    assistant: [IM_ASSISTANT],
    system: [IM_SYSTEM],
    observation: [IM_TOOL_OBSERVATION],
    stopWords: ['<|im_end|>', '<|im_start|>'],
    replaceEos: true,
    replaceJinjaTemplate: true,
  },
  {
    name: 'deepseek',
    user: ['User: {{content}}\n\nAssistant:'],
    system: ['{{content}}\n\n'],
    prefix: [BOS],
  },
  {
    name: 'deepseek3',
    user: ['<｜User｜>{{content}}<｜Assistant｜>'],
    prefix: [BOS],
  },
  {
    name: 'deepseekr1',
    user: ['<｜User｜>{{content}}<｜Assistant｜>'],
    prefix: [BOS],
    kind: 'reasoning',
  },
  {
    name: 'default',
    user: ['Human: {{content}}', EOS, '\nAssistant:'],
    assistant: ['{{content}}', EOS, '\n'],
    system: ['System: {{content}}', EOS, '\n'],
    replaceJinjaTemplate: true,
  },
  {
    name: 'empty',
    assistant: ['{{content}}'],
  },
  {
    name: 'fewshot',
    assistant: ['{{content}}\n\n'],
    efficientEos: true,
    replaceJinjaTemplate: true,
  },
  {
    name: 'gemma',
    user: [GEMMA_USER],
    assistant: ['{{content}}<end_of_turn>\n'],
    system: ['{{content}}\n\n'],
    observation: [GEMMA_OBSERVATION],
    prefix: [BOS],
    stopWords: ['<end_of_turn>'],
    replaceEos: true,
    kind: 'llama2',
  },
  {
    name: 'gemma2',
    user: [GEMMA_USER],
    assistant: ['{{content}}<end_of_turn>\n'],
    system: ['{{content}}\n\n'],
    observation: [GEMMA_OBSERVATION],
    prefix: [BOS],
    stopWords: ['<eos>', '<end_of_turn>'],
    efficientEos: true,
    kind: 'llama2',
  },
  { name: 'glm4', ...GLM4_FIELDS },
  {
    name: 'llama2',
    user: [BOS, '[INST] {{content}} [/INST]'],
    system: ['<<SYS>>\n{{content}}\n<</SYS>>\n\n'],
    kind: 'llama2',
  },
  {
    name: 'llama2_zh',
    user: [BOS, '[INST] {{content}} [/INST]'],
    system: ['<<SYS>>\n{{content}}\n<</SYS>>\n\n'],
    defaultSystem: 'You are a helpful assistant. 你是一个乐于助人的助手。',
    kind: 'llama2',
  },
  {
    name: 'llama3',
    user: [LLAMA3_USER],
    assistant: ['{{content}}<|eot_id|>'],
    system: ['<|start_header_id|>system<|end_header_id|>\n\n{{content}}<|eot_id|>'],
    function: { slots: ['{{content}}<|eot_id|>'], toolFormat: 'llama3' },
    observation: [
      '<|start_header_id|>ipython<|end_header_id|>\n\n{{content}}<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    ],
    toolFormat: 'llama3',
    prefix: [BOS],
    stopWords: ['<|eot_id|>', '<|eom_id|>'],
    replaceEos: true,
  },
  {
    name: 'llama4',
    user: ['<|header_start|>user<|header_end|>\n\n{{content}}<|eot|><|header_start|>assistant<|header_end|>\n\n'],
    assistant: ['{{content}}<|eot|>'],
    system: ['<|header_start|>system<|header_end|>\n\n{{content}}<|eot|>'],
    function: { slots: ['{{content}}<|eot|>'], toolFormat: 'llama3' },
    observation: [
      '<|header_start|>ipython<|header_end|>\n\n{{content}}<|eot|><|header_start|>assistant<|header_end|>\n\n',
    ],
    toolFormat: 'llama3',
    prefix: [BOS],
    stopWords: ['<|eot|>', '<|eom|>'],
    replaceEos: true,
  },
  { name: 'mistral', ...MISTRAL_FIELDS },
  {
    name: 'phi',
    user: ['<|user|>\n{{content}}<|end|>\n<|assistant|>\n'],
    assistant: ['{{content}}<|end|>\n'],
    system: ['<|system|>\n{{content}}<|end|>\n'],
    stopWords: ['<|end|>'],
    replaceEos: true,
  },
  {
    name: 'phi4',
    user: ['<|im_start|>user<|im_sep|>{{content}}<|im_end|><|im_start|>assistant<|im_sep|>'],
    assistant: ['{{content}}<|im_end|>'],
    system: ['<|im_start|>system<|im_sep|>{{content}}<|im_end|>'],
    stopWords: ['<|im_end|>'],
    replaceEos: true,
  },
  {
    name: 'qwen',
    ...QWEN_FIELDS,
    defaultSystem: 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.',
  },
  { name: 'qwen2_vl', ...QWEN_FIELDS, defaultSystem: 'You are a helpful assistant.' },
  { name: 'qwen3', ...QWEN_FIELDS, kind: 'reasoning' },
  { name: 'qwen3_nothink', ...QWEN_FIELDS },
  {
    name: 'smollm',
    user: [IM_USER],
    assistant: [IM_ASSISTANT],
    system: [IM_SYSTEM],
    stopWords: ['<|im_end|>'],
  },
  {
    name: 'smollm2',
    user: [IM_USER],
    assistant: [IM_ASSISTANT],
    system: [IM_SYSTEM],
    stopWords: ['<|im_end|>'],
    defaultSystem: 'You are a helpful AI assistant named SmolLM, trained by Hugging Face.',
  },
  {
    name: 'vicuna',
    user: ['USER: {{content}} ASSISTANT:'],
    defaultSystem: VICUNA_SYSTEM,
    replaceJinjaTemplate: true,
  },
  {
    name: 'yi',
    user: [IM_USER],
    assistant: [IM_ASSISTANT],
    system: [IM_SYSTEM],
    stopWords: ['<|im_end|>'],
  },
  {
    name: 'zephyr',
    user: ['<|user|>\n{{content}}', EOS, '<|assistant|>\n'],
    system: ['<|system|>\n{{content}}', EOS],
    defaultSystem: 'You are Zephyr, a helpful assistant.',
  },
  {
    name: 'aquila',
    user: ['Human: {{content}}###Assistant:'],
    assistant: ['{{content}}###'],
    system: ['System: {{content}}###'],
    defaultSystem:
      'A chat between a curious human and an artificial intelligence assistant. ' +
      "The assistant gives helpful, detailed, and polite answers to the human's questions.",
    stopWords: ['</s>'],
  },
  {
    name: 'atom',
    user: [BOS, 'Human: {{content}}\n', EOS, BOS, 'Assistant:'],
    assistant: ['{{content}}\n', EOS],
  },
  {
    name: 'baichuan',
    user: [{ token: '<reserved_102>' }, '{{content}}', { token: '<reserved_103>' }],
    efficientEos: true,
  },
  {
    name: 'belle',
    user: ['Human: {{content}}\n\nBelle: '],
    assistant: ['{{content}}', EOS, '\n\n'],
    prefix: [BOS],
  },
  {
    name: 'bluelm',
    user: [{ token: '[|Human|]:' }, '{{content}}', { token: '[|AI|]:' }],
  },
  {
    name: 'breeze',
    user: ['[INST] {{content}} [/INST] '],
    prefix: [BOS],
    efficientEos: true,
  },
  {
    name: 'chatglm2',
    user: ['[Round {{idx}}]\n\n问：{{content}}\n\n答：'],
    prefix: [{ token: '[gMASK]' }, { token: 'sop' }],
    efficientEos: true,
  },
  {
    name: 'codegeex2',
    prefix: [{ token: '[gMASK]' }, { token: 'sop' }],
  },
  {
    name: 'codegeex4',
    user: ['<|user|>\n{{content}}<|assistant|>\n'],
    system: ['<|system|>\n{{content}}'],
    function: { slots: ['{{content}}'], toolFormat: 'glm4' },
    observation: ['<|observation|>\n{{content}}<|assistant|>\n'],
    toolFormat: 'glm4',
    prefix: ['[gMASK]<sop>'],
    defaultSystem:
      '你是一位智能编程助手，你叫CodeGeeX。你会为用户回答关于编程、代码、计算机方面的任何问题，' +
      '并提供格式规范、可以执行、准确安全的代码，并在必要时提供详细的解释。',
    stopWords: ['<|user|>', '<|observation|>'],
    efficientEos: true,
  },
  {
    name: 'cohere',
    user: [
      '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{{content}}<|END_OF_TURN_TOKEN|>' +
        '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>',
    ],
    system: ['<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>{{content}}<|END_OF_TURN_TOKEN|>'],
    prefix: [BOS],
  },
  {
    name: 'cpm',
    user: ['<用户>{{content}}<AI>'],
    prefix: [BOS],
  },
  {
    name: 'cpm3',
    user: [IM_USER],
    assistant: [IM_ASSISTANT],
    system: [IM_SYSTEM],
    observation: [IM_TOOL_OBSERVATION],
    prefix: [BOS],
    stopWords: ['<|im_end|>'],
  },
  {
    name: 'deepseekcoder',
    user: ['### Instruction:\n{{content}}\n### Response:'],
    assistant: ['\n{{content}}\n<|EOT|>\n'],
    prefix: [BOS],
    defaultSystem:
      'You are an AI programming assistant, utilizing the DeepSeek Coder model, ' +
      'developed by DeepSeek Company, and you only answer questions related to computer science. ' +
      'For politically sensitive questions, security and privacy issues, ' +
      'and other non-computer science questions, you will refuse to answer.\n',
  },
  {
    name: 'exaone',
    user: ['[|user|]{{content}}\n[|assistant|]'],
    assistant: ['{{content}}', EOS, '\n'],
    system: ['[|system|]{{content}}[|endofturn|]\n'],
  },
  {
    name: 'falcon',
    user: ['User: {{content}}\nFalcon:'],
    assistant: ['{{content}}\n'],
    efficientEos: true,
  },
  {
    name: 'gemma3',
    user: [GEMMA_USER],
    assistant: ['{{content}}<end_of_turn>\n'],
    system: ['{{content}}\n\n'],
    observation: [GEMMA_OBSERVATION],
    prefix: [BOS],
    stopWords: ['<end_of_turn>'],
    replaceEos: true,
    kind: 'llama2',
  },
  {
    name: 'granite3',
    user: ['<|start_of_role|>user<|end_of_role|>{{content}}<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>'],
    assistant: ['{{content}}<|end_of_text|>\n'],
    system: ['<|start_of_role|>system<|end_of_role|>{{content}}<|end_of_text|>\n'],
  },
  {
    name: 'granite4',
    user: ['<|start_of_role|>user<|end_of_role|>{{content}}<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>'],
    assistant: ['{{content}}<|end_of_text|>\n'],
    system: ['<|start_of_role|>system<|end_of_role|>{{content}}<|end_of_text|>\n'],
    function: { slots: ['{{content}}<|end_of_text|>\n'], toolFormat: 'default' },
    observation: ['<|start_of_role|>tool<|end_of_role|>{{content}}<|end_of_text|>\n<|start_of_role|>assistant\n'],
    toolFormat: 'default',
    stopWords: ['<|end_of_text|>'],
    defaultSystem: 'You are Granite, developed by IBM. You are a helpful AI assistant.',
  },
  {
    name: 'hunyuan',
    user: ['{{content}}<|extra_0|>'],
    assistant: ['{{content}}<|eos|>'],
    system: ['{{content}}<|extra_4|>'],
    prefix: ['<|startoftext|>'],
    stopWords: ['<|eos|>'],
  },
  {
    name: 'intern2',
    user: [IM_USER],
    assistant: [IM_ASSISTANT],
    system: [IM_SYSTEM],
    prefix: [BOS],
    defaultSystem:
      'You are an AI assistant whose name is InternLM (书生·浦语).\n' +
      '- InternLM (书生·浦语) is a conversational language model that is developed by Shanghai AI Laboratory ' +
      '(上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n' +
      '- InternLM (书生·浦语) can understand and communicate fluently in the language ' +
      'chosen by the user such as English and 中文.',
    stopWords: ['<|im_end|>'],
  },
  {
    name: 'mimo',
    ...QWEN_FIELDS,
    defaultSystem: 'You are a helpful assistant.',
    kind: 'reasoning',
  },
  {
    name: 'olmo',
    user: ['<|user|>\n{{content}}<|assistant|>\n'],
    prefix: [EOS],
  },
  {
    name: 'openchat',
    user: ['GPT4 Correct User: {{content}}', EOS, 'GPT4 Correct Assistant:'],
    prefix: [BOS],
  },
  {
    name: 'openchat-3.6',
    user: [
      '<|start_header_id|>GPT4 Correct User<|end_header_id|>\n\n{{content}}<|eot_id|>' +
        '<|start_header_id|>GPT4 Correct Assistant<|end_header_id|>\n\n',
    ],
    prefix: [BOS],
    stopWords: ['<|eot_id|>'],
  },
  {
    name: 'opencoder',
    user: [IM_USER],
    assistant: [IM_ASSISTANT],
    system: [IM_SYSTEM],
    observation: [IM_TOOL_OBSERVATION],
    defaultSystem: 'You are OpenCoder, created by OpenCoder Team.',
    stopWords: ['<|im_end|>'],
  },
  {
    name: 'orion',
    user: ['Human: {{content}}\n\nAssistant: ', EOS],
    prefix: [BOS],
  },
  {
    name: 'sailor',
    user: ['<|im_start|>question\n{{content}}<|im_end|>\n<|im_start|>answer\n'],
    assistant: [IM_ASSISTANT],
    system: [IM_SYSTEM],
    defaultSystem:
      'You are an AI assistant named Sailor created by Sea AI Lab. ' +
      'Your answer should be friendly, unbiased, faithful, informative and detailed.',
    stopWords: ['<|im_end|>'],
  },
  {
    name: 'solar',
    user: ['### User:\n{{content}}\n\n### Assistant:\n'],
    system: ['### System:\n{{content}}\n\n'],
    efficientEos: true,
  },
  {
    name: 'starchat',
    user: ['<|user|>\n{{content}}<|end|>\n<|assistant|>'],
    assistant: ['{{content}}<|end|>\n'],
    system: ['<|system|>\n{{content}}<|end|>\n'],
    stopWords: ['<|end|>'],
  },
  {
    name: 'telechat',
    user: ['<_user>{{content}}<_bot>'],
    system: ['<_system>{{content}}<_end>'],
  },
  {
    name: 'xverse',
    user: ['Human: {{content}}\n\nAssistant: '],
  },
  {
    name: 'yuan',
    user: ['{{content}}', { token: '<sep>' }],
    assistant: ['{{content}}<eod>\n'],
    stopWords: ['<eod>'],
  },
  {
    name: 'ziya',
    user: ['<human>:{{content}}\n<bot>:'],
    assistant: ['{{content}}\n'],
  },
];

for (const def of DEFINITIONS) registerTemplate(def);
