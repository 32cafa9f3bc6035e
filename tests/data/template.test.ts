// LLaMA-Factory's own golden cases (tests/data/test_template.py), on the real Llama 3 and Qwen3 tokenizers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getTemplate, type Message } from '../../src/data/template/index.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { load, metaLlama3Dir } from '../util/tokenizers.js';

const MESSAGES: Message[] = [
  { role: 'user', content: 'How are you' },
  { role: 'assistant', content: 'I am fine!' },
  { role: 'user', content: '你好' },
  { role: 'assistant', content: '很高兴认识你！' },
];

const MESSAGES_WITH_THOUGHT: Message[] = [
  { role: 'user', content: 'How are you' },
  { role: 'assistant', content: '<think>\nModel thought here\n</think>\n\nI am fine!' },
  { role: 'user', content: '你好' },
  { role: 'assistant', content: '<think>\n模型思考内容\n</think>\n\n很高兴认识你！' },
];

const EMPTY_THOUGHT = '<think>\n\n</think>\n\n';
const quiet = () => {};

// Both templates below leave these tokenizers unchanged (their EOS already is the first stop word), so the
// tests can share one of each.
const llama3 = Tokenizer.fromDir(metaLlama3Dir());
const qwen3 = load('qwen3');

/** LLaMA-Factory's _check_tokenization: encode(text) == ids and decode(ids) == text, for every pair. */
async function checkTokenization(tokenizer: Tokenizer, ids: number[][], texts: string[]): Promise<void> {
  assert.equal(ids.length, texts.length);
  for (let i = 0; i < ids.length; i++) {
    assert.equal(tokenizer.decode(ids[i]!), texts[i], `decode of part ${i}`);
    assert.deepEqual(await tokenizer.encode(texts[i]!, { addSpecialTokens: false }), ids[i], `encode of part ${i}`);
  }
}

/** LLaMA-Factory's _check_template: our ids == the tokenizer's own chat template, tokenized. */
async function checkTemplate(
  tokenizer: Tokenizer,
  name: string,
  promptStr: string,
  answerStr: string,
  messages: Message[] = MESSAGES,
): Promise<void> {
  const contentStr = tokenizer.applyChatTemplate(messages);
  const contentIds = await tokenizer.applyChatTemplate(messages, { tokenize: true });
  const template = getTemplate(name, tokenizer, { log: quiet });
  const [promptIds, answerIds] = await template.encodeOneturn(tokenizer, messages);
  assert.equal(contentStr, promptStr + answerStr);
  assert.deepEqual(contentIds, [...promptIds, ...answerIds]);
  await checkTokenization(tokenizer, [promptIds, answerIds], [promptStr, answerStr]);
}

test('encode_oneturn (llama3): prompt and answer strings and ids', async () => {
  const template = getTemplate('llama3', llama3, { log: quiet });
  const [prompt, answer] = await template.encodeOneturn(llama3, MESSAGES);
  const promptStr =
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHow are you<|eot_id|>' +
    '<|start_header_id|>assistant<|end_header_id|>\n\nI am fine!<|eot_id|>' +
    '<|start_header_id|>user<|end_header_id|>\n\n你好<|eot_id|>' +
    '<|start_header_id|>assistant<|end_header_id|>\n\n';
  await checkTokenization(llama3, [prompt, answer], [promptStr, '很高兴认识你！<|eot_id|>']);
});

test('encode_multiturn (llama3): one [prompt, answer] pair per turn', async () => {
  const template = getTemplate('llama3', llama3, { log: quiet });
  const pairs = await template.encodeMultiturn(llama3, MESSAGES);
  await checkTokenization(llama3, pairs.flat(), [
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHow are you<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n',
    'I am fine!<|eot_id|>',
    '<|start_header_id|>user<|end_header_id|>\n\n你好<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    '很高兴认识你！<|eot_id|>',
  ]);
});

const THINKING_CASES = [true, false, null] as const;

for (const cot of [true, false]) {
  for (const enableThinking of THINKING_CASES) {
    test(`reasoning encode_oneturn (qwen3, cot=${cot}, enable_thinking=${enableThinking})`, async () => {
      const template = getTemplate('qwen3', qwen3, { enableThinking, log: quiet });
      const [prompt, answer] = await template.encodeOneturn(qwen3, cot ? MESSAGES_WITH_THOUGHT : MESSAGES);
      let promptStr =
        `<|im_start|>user\n${MESSAGES[0]!.content}<|im_end|>\n<|im_start|>assistant\n` +
        `${MESSAGES[1]!.content}<|im_end|>\n` +
        `<|im_start|>user\n${MESSAGES[2]!.content}<|im_end|>\n<|im_start|>assistant\n`;
      let answerStr: string;
      if (!cot || enableThinking === false) {
        answerStr = `${MESSAGES[3]!.content}<|im_end|>\n`;
        if (enableThinking) answerStr = EMPTY_THOUGHT + answerStr;
        else promptStr += EMPTY_THOUGHT;
      } else {
        answerStr = `${MESSAGES_WITH_THOUGHT[3]!.content}<|im_end|>\n`;
      }
      await checkTokenization(qwen3, [prompt, answer], [promptStr, answerStr]);
    });

    test(`reasoning encode_multiturn (qwen3, cot=${cot}, enable_thinking=${enableThinking})`, async () => {
      const template = getTemplate('qwen3', qwen3, { enableThinking, log: quiet });
      const pairs = await template.encodeMultiturn(qwen3, cot ? MESSAGES_WITH_THOUGHT : MESSAGES);
      const messages = !cot || enableThinking === false ? MESSAGES : MESSAGES_WITH_THOUGHT;
      let prompt1 = `<|im_start|>user\n${MESSAGES[0]!.content}<|im_end|>\n<|im_start|>assistant\n`;
      let answer1 = `${messages[1]!.content}<|im_end|>\n`;
      let prompt2 = `<|im_start|>user\n${MESSAGES[2]!.content}<|im_end|>\n<|im_start|>assistant\n`;
      let answer2 = `${messages[3]!.content}<|im_end|>\n`;
      if (!cot || enableThinking === false) {
        if (enableThinking) {
          answer1 = EMPTY_THOUGHT + answer1;
          answer2 = EMPTY_THOUGHT + answer2;
        } else {
          prompt1 += EMPTY_THOUGHT;
          prompt2 += EMPTY_THOUGHT;
        }
      }
      await checkTokenization(qwen3, pairs.flat(), [prompt1, answer1, prompt2, answer2]);
    });
  }
}

for (const enableThinking of THINKING_CASES) {
  for (const discarding of [true, false]) {
    test(`reasoning encode_multiturn discarding_history_cot=${discarding} (enable_thinking=${enableThinking})`, async () => {
      const template = getTemplate('qwen3', qwen3, { enableThinking, log: quiet });
      const pairs = await template.encodeMultiturn(qwen3, MESSAGES_WITH_THOUGHT, null, null, discarding);
      let prompt1 = `<|im_start|>user\n${MESSAGES[0]!.content}<|im_end|>\n<|im_start|>assistant\n`;
      let prompt2 = `<|im_start|>user\n${MESSAGES[2]!.content}<|im_end|>\n<|im_start|>assistant\n`;
      let answer1: string;
      let answer2: string;
      if (enableThinking === false) {
        answer1 = `${MESSAGES[1]!.content}<|im_end|>\n`;
        answer2 = `${MESSAGES[3]!.content}<|im_end|>\n`;
        if (!discarding) prompt1 += EMPTY_THOUGHT;
        prompt2 += EMPTY_THOUGHT;
      } else {
        answer1 = `${(discarding ? MESSAGES : MESSAGES_WITH_THOUGHT)[1]!.content}<|im_end|>\n`;
        answer2 = `${MESSAGES_WITH_THOUGHT[3]!.content}<|im_end|>\n`;
      }
      await checkTokenization(qwen3, pairs.flat(), [prompt1, answer1, prompt2, answer2]);
    });
  }
}

test('llama3 template == Meta-Llama-3-8B-Instruct chat template, string and ids', async () => {
  await checkTemplate(
    llama3,
    'llama3',
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHow are you<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\nI am fine!<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\n你好<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n',
    '很高兴认识你！<|eot_id|>',
  );
});

for (const cot of [true, false]) {
  test(`qwen3 template == Qwen3's own chat template, string and ids (cot=${cot})`, async () => {
    const promptStr =
      '<|im_start|>user\nHow are you<|im_end|>\n<|im_start|>assistant\nI am fine!<|im_end|>\n' +
      '<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n';
    const answerStr = cot
      ? `${MESSAGES_WITH_THOUGHT[3]!.content}<|im_end|>\n`
      : `${EMPTY_THOUGHT}${MESSAGES[3]!.content}<|im_end|>\n`;
    await checkTemplate(qwen3, 'qwen3', promptStr, answerStr, cot ? MESSAGES_WITH_THOUGHT : MESSAGES);
  });
}

test('qwen (Qwen2.5) template strings on the shared Qwen vocabulary', async () => {
  const template = getTemplate('qwen', qwen3, { log: quiet });
  const [prompt, answer] = await template.encodeOneturn(qwen3, MESSAGES);
  await checkTokenization(
    qwen3,
    [prompt, answer],
    [
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nHow are you<|im_end|>\n<|im_start|>assistant\nI am fine!<|im_end|>\n' +
        '<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n',
      '很高兴认识你！<|im_end|>\n',
    ],
  );
});

test('get_stop_token_ids (llama3): EOS <|eot_id|> and <|eom_id|>', async () => {
  const template = getTemplate('llama3', llama3, { log: quiet });
  assert.deepEqual(template.stopIds(llama3), [128008, 128009]);
});

test('ollama modelfile (llama3)', async () => {
  const template = getTemplate('llama3', llama3, { log: quiet });
  assert.equal(
    template.ollamaModelfile(llama3),
    '# ollama modelfile auto-generated by llamafactory\n\n' +
      'FROM .\n\n' +
      'TEMPLATE """<|begin_of_text|>' +
      '{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}' +
      '{{ range .Messages }}{{ if eq .Role "user" }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Content }}' +
      '<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n' +
      '{{ else if eq .Role "assistant" }}{{ .Content }}<|eot_id|>{{ end }}{{ end }}"""\n\n' +
      'PARAMETER stop "<|eom_id|>"\n' +
      'PARAMETER stop "<|eot_id|>"\n' +
      'PARAMETER num_ctx 4096\n',
  );
});

test("jinja template: the llama3 template as jinja renders exactly like Meta's", async () => {
  const template = getTemplate('llama3', llama3, { log: quiet });
  const ours = template.toJinja(llama3);
  assert.notEqual(ours, llama3.chatTemplate);
  const chat = MESSAGES.map((m) => ({ ...m }));
  assert.equal(llama3.applyChatTemplate(chat, { chatTemplate: ours }), llama3.applyChatTemplate(chat));
  const withSystem = [{ role: 'system', content: 'Be brief.' }, ...chat];
  assert.equal(llama3.applyChatTemplate(withSystem, { chatTemplate: ours }), llama3.applyChatTemplate(withSystem));
});
