// Tool use: tool prompts, function-call turns and reading calls back out of replies (for the API server).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getTemplate, type Message } from '../../src/data/template/index.js';
import { getToolUtils, TOOL_FORMAT_NAMES } from '../../src/data/template/tool-utils.js';
import { pythonJsonText } from '../../src/util/python-json.js';
import { load } from '../util/tokenizers.js';

const quiet = () => {};
const WEATHER = {
  name: 'get_weather',
  description: 'Get weather',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string', description: 'The city' }, unit: { type: 'string', enum: ['c', 'f'] } },
    required: ['city'],
  },
};
const WRAPPED = { type: 'function', function: WEATHER };
const CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}';
const CONVERSATION: Message[] = [
  { role: 'user', content: "What's the weather in Paris?" },
  { role: 'function', content: CALL },
  { role: 'observation', content: '{"temp": 20}' },
  { role: 'assistant', content: 'It is 20 degrees.' },
];

test("JSON is written with Python json.dumps' separators and indentation", () => {
  const value = { a: [1, { b: 'é"' }], c: {}, d: [], e: null, f: 1.5 };
  assert.equal(pythonJsonText(value), '{"a": [1, {"b": "é\\""}], "c": {}, "d": [], "e": null, "f": 1.5}');
  assert.equal(
    pythonJsonText({ a: [1, { b: 2 }], c: {} }, 4),
    '{\n    "a": [\n        1,\n        {\n            "b": 2\n        }\n    ],\n    "c": {}\n}',
  );
});

test('the default tool prompt lists names, arguments, required flags and enums', () => {
  assert.equal(
    getToolUtils('default').formatTools([WRAPPED], new Date()),
    'You have access to the following tools:\n' +
      '> Tool Name: get_weather\nTool Description: Get weather\nTool Args:\n' +
      '  - city (string, required): The city\n' +
      '  - unit (string): , should be one of [c, f]\n\n' +
      'Use the following format if using a tool:\n```\n' +
      'Action: tool name (one of [get_weather])\n' +
      'Action Input: the input to the tool, in a JSON format representing the kwargs ' +
      '(e.g. ```{"input": "hello world", "num_beams": 5}```)\n```\n',
  );
});

test("qwen3 tool conversation == Qwen3's own chat template with tools, ids included", async () => {
  const tokenizer = load('qwen3');
  const template = getTemplate('qwen3', tokenizer, { log: quiet });
  const [prompt, answer] = await template.encodeOneturn(tokenizer, CONVERSATION, 'S', JSON.stringify([WRAPPED]));
  const official = await tokenizer.applyChatTemplate(
    [
      { role: 'system', content: 'S' },
      { role: 'user', content: CONVERSATION[0]!.content },
      {
        role: 'assistant',
        content: '',
        tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris' } } }],
      },
      { role: 'tool', content: '{"temp": 20}' },
      { role: 'assistant', content: 'It is 20 degrees.' },
    ],
    { tools: [WRAPPED], tokenize: true },
  );
  assert.deepEqual([...prompt, ...answer], official);
  assert.equal(tokenizer.decode(answer), '<think>\n\n</think>\n\nIt is 20 degrees.<|im_end|>\n');
});

test('llama3 tools: dated tool prompt in the system turn, JSON calls, ipython observations', async () => {
  const tokenizer = load('llama3');
  const template = getTemplate('llama3', tokenizer, { log: quiet });
  template.now = () => new Date(2024, 6, 26, 12);
  const pairs = await template.encodeMultiturn(tokenizer, CONVERSATION, '', JSON.stringify([WEATHER]));
  const [prompt1, call] = pairs[0]!.map((ids) => tokenizer.decode(ids));
  assert.equal(
    prompt1,
    '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n' +
      'Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n' +
      'You have access to the following functions. To call a function, please respond with JSON for a function call. ' +
      'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}. ' +
      `Do not use variables.\n\n${pythonJsonText(WRAPPED, 4)}\n\n<|eot_id|>` +
      "<|start_header_id|>user<|end_header_id|>\n\nWhat's the weather in Paris?<|eot_id|>" +
      '<|start_header_id|>assistant<|end_header_id|>\n\n',
  );
  assert.equal(call, '{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>');
  assert.equal(
    tokenizer.decode(pairs[1]![0]),
    '<|start_header_id|>ipython<|end_header_id|>\n\n{"temp": 20}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
  );
});

test('a thought before a tool call is kept in front of the formatted call', async () => {
  const tokenizer = load('mistral');
  const template = getTemplate('qwen3', tokenizer, { log: quiet });
  const messages: Message[] = [
    { role: 'user', content: 'q' },
    { role: 'function', content: `<think>\nplan\n</think>\n\n${CALL}` },
  ];
  const specials = { bosToken: null, eosToken: null };
  assert.equal(
    template.renderText(messages, specials)[1],
    `<think>\nplan\n</think>\n\n<tool_call>\n${CALL}\n</tool_call><|im_end|>\n`,
  );
  await assert.rejects(
    template.encodeOneturn(tokenizer, [messages[0]!, { role: 'function', content: 'not json' }]),
    /a function message must be JSON/,
  );
});

test('extractToolCalls reads each dialect back (the inverse of the call formatting)', async () => {
  const calls = [
    { name: 'get_weather', arguments: '{"city": "Paris"}' },
    { name: 'get_time', arguments: '{"tz": "CET", "fmt": null}' },
  ];
  for (const format of TOOL_FORMAT_NAMES) {
    const utils = getToolUtils(format);
    const expected = format === 'glm4' ? calls.slice(0, 1) : calls;
    assert.deepEqual(utils.extract(utils.formatFunctions(expected)), expected, format);
    assert.equal(utils.extract('Just an answer.'), 'Just an answer.', format);
  }
  const tokenizer = load('mistral');
  const qwen = getTemplate('qwen', tokenizer, { log: quiet });
  assert.deepEqual(qwen.extractToolCalls(`<tool_call>\n${CALL}\n</tool_call>`), calls.slice(0, 1));
  assert.equal(qwen.extractToolCalls('<tool_call>\nnot json\n</tool_call>'), '<tool_call>\nnot json\n</tool_call>');
  const byDefault = getTemplate('empty', tokenizer, { log: quiet });
  assert.deepEqual(
    byDefault.extractToolCalls('Action: get_weather\nAction Input: ```{"city": "Paris"}```'),
    calls.slice(0, 1),
  );
  const llama3 = getTemplate('llama3', tokenizer, { log: quiet });
  assert.deepEqual(
    llama3.extractToolCalls(' {"name": "get_weather", "parameters": {"city": "Paris"}} '),
    calls.slice(0, 1),
  );
  const glm4 = getTemplate('glm4', tokenizer, { log: quiet });
  assert.deepEqual(glm4.extractToolCalls('get_weather\n{"city": "Paris"}'), calls.slice(0, 1));
  assert.throws(() => getToolUtils('glm4').formatFunctions(calls), /parallel/);
});

test('tool_format replaces the dialect of a template', async () => {
  const tokenizer = load('mistral');
  const template = getTemplate('llama3', tokenizer, { toolFormat: 'qwen', log: quiet });
  const text = template.renderText(CONVERSATION.slice(0, 2), { bosToken: '<s>', eosToken: '</s>' });
  assert.equal(text[1], `<tool_call>\n${CALL}\n</tool_call></s>`);
  assert.deepEqual(template.extractToolCalls(`<tool_call>\n${CALL}\n</tool_call>`), [
    { name: 'get_weather', arguments: '{"city": "Paris"}' },
  ]);
  assert.throws(() => getTemplate('qwen', tokenizer, { toolFormat: 'nope', log: quiet }), /tool format "nope"/);
});
