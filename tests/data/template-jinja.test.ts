// Templates derived from a tokenizer's jinja chat template (LLaMA-Factory's parse_template), and templates
// written back out as jinja for saved tokenizers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getTemplate, type Message, parseTemplate } from '../../src/data/template/index.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { load, metaLlama3Dir, variantDir } from '../util/tokenizers.js';

const MESSAGES: Message[] = [
  { role: 'user', content: 'How are you' },
  { role: 'assistant', content: 'I am fine!' },
  { role: 'user', content: '你好' },
  { role: 'assistant', content: '很高兴认识你！' },
];
const quiet = () => {};

// Qwen2.5-Instruct's chat template without its tool branches: it injects a default system prompt.
const QWEN25_CHAT_TEMPLATE = `{%- if messages[0]['role'] == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
{%- else %}
    {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant") %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
`;

const chat = (messages: Message[], system?: string) => [
  ...(system ? [{ role: 'system', content: system }] : []),
  ...messages.map((m) => ({ role: m.role, content: m.content })),
];

test('parse_template (llama3): slots, prefix from the post-processor BOS, no default system', async () => {
  const tokenizer = Tokenizer.fromDir(metaLlama3Dir());
  const template = parseTemplate(tokenizer);
  assert.equal(template.kind, 'default');
  assert.deepEqual(template.formatUser.slots, [
    '<|start_header_id|>user<|end_header_id|>\n\n{{content}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
  ]);
  assert.deepEqual(template.formatAssistant.slots, ['{{content}}<|eot_id|>']);
  assert.deepEqual(template.formatSystem.slots, [
    '<|start_header_id|>system<|end_header_id|>\n\n{{content}}<|eot_id|>',
  ]);
  assert.deepEqual(template.formatPrefix.slots, ['<|begin_of_text|>']);
  assert.equal(template.defaultSystem, '');
  // The derived template reproduces the tokenizer's own rendering, ids included.
  const [prompt, answer] = await template.encodeOneturn(tokenizer, MESSAGES, 'Be brief.');
  assert.deepEqual(
    [...prompt, ...answer],
    await tokenizer.applyChatTemplate(chat(MESSAGES, 'Be brief.'), { tokenize: true }),
  );
});

test('parse_template (qwen3): a reasoning template whose ids equal the tokenizer chat template', async () => {
  const tokenizer = load('qwen3');
  const template = parseTemplate(tokenizer);
  assert.equal(template.kind, 'reasoning');
  assert.deepEqual(template.formatUser.slots, ['<|im_start|>user\n{{content}}<|im_end|>\n<|im_start|>assistant\n']);
  assert.deepEqual(template.formatAssistant.slots, ['{{content}}<|im_end|>\n']);
  assert.deepEqual(template.formatSystem.slots, ['<|im_start|>system\n{{content}}<|im_end|>\n']);
  assert.deepEqual(template.formatPrefix.slots, []);
  assert.equal(template.defaultSystem, '');
  const [prompt, answer] = await template.encodeOneturn(tokenizer, MESSAGES, 'S');
  assert.deepEqual([...prompt, ...answer], await tokenizer.applyChatTemplate(chat(MESSAGES, 'S'), { tokenize: true }));

  // With `template` unset, getTemplate derives the same thing and warns that it did.
  const warnings: string[] = [];
  const derived = getTemplate(undefined, tokenizer, {
    log: (level, m) => level === 'warning' && warnings.push(m),
  });
  assert.deepEqual(
    await derived.encodeMultiturn(tokenizer, MESSAGES),
    await template.encodeMultiturn(tokenizer, MESSAGES),
  );
  assert.match(warnings[0]!, /try parsing the chat template/);
});

test('parse_template (Qwen2.5-style): finds the default system prompt the template injects', async () => {
  const tokenizer = Tokenizer.fromDir(variantDir('qwen3', (c) => (c.chat_template = QWEN25_CHAT_TEMPLATE)));
  const template = parseTemplate(tokenizer);
  assert.equal(template.kind, 'default');
  assert.equal(template.defaultSystem, 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.');
  assert.deepEqual(template.formatUser.slots, ['<|im_start|>user\n{{content}}<|im_end|>\n<|im_start|>assistant\n']);
  assert.deepEqual(template.formatSystem.slots, ['<|im_start|>system\n{{content}}<|im_end|>\n']);
  for (const system of [undefined, 'Custom.']) {
    const [prompt, answer] = await template.encodeOneturn(tokenizer, MESSAGES, system);
    assert.deepEqual(
      [...prompt, ...answer],
      await tokenizer.applyChatTemplate(chat(MESSAGES, system), { tokenize: true }),
    );
  }
});

test('parse_template on a defective chat template derives what LLaMA-Factory derives, and warns', () => {
  // @lenml's Llama 3 config: no BOS from the post-processor, and a template that always appends the
  // generation prompt.
  const tokenizer = load('llama3');
  const warnings: string[] = [];
  const template = parseTemplate(tokenizer, 'jinja', (level, m) => level === 'warning' && warnings.push(m));
  assert.deepEqual(template.formatPrefix.slots, []);
  assert.deepEqual(template.formatUser.slots, [
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{{content}}<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n',
  ]);
  assert.deepEqual(template.formatAssistant.slots, [
    '{{content}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
  ]);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /ignores add_generation_prompt/);
  assert.match(warnings[1]!, /writes <\|begin_of_text\|> itself/);
  const clean: string[] = [];
  parseTemplate(load('qwen3'), 'jinja', (level, m) => level === 'warning' && clean.push(m));
  assert.deepEqual(clean, []);
});

test('no template and no chat template: `empty`, with a warning, and the tokenizer gets its jinja', async () => {
  const tokenizer = load('mistral');
  assert.equal(tokenizer.chatTemplate, null);
  const warnings: string[] = [];
  const template = getTemplate(null, tokenizer, { log: (level, m) => level === 'warning' && warnings.push(m) });
  assert.equal(template.name, 'empty');
  assert.match(warnings[0]!, /use `empty` template/);
  const [prompt, answer] = await template.encodeOneturn(tokenizer, MESSAGES.slice(0, 2));
  assert.deepEqual(prompt, await tokenizer.encode('How are you', { addSpecialTokens: false }));
  assert.deepEqual(answer, await tokenizer.encode('I am fine!', { addSpecialTokens: false }));
  assert.equal(tokenizer.applyChatTemplate(chat(MESSAGES.slice(0, 2))), 'How are youI am fine!');
});

test('templates written as jinja render the same text as their slots', async () => {
  for (const name of ['qwen', 'llama2', 'mistral', 'default', 'alpaca', 'gemma']) {
    const tokenizer = load('mistral');
    const template = getTemplate(name, tokenizer, { log: quiet });
    const jinja = template.toJinja(tokenizer);
    const specials = { bosToken: tokenizer.bosToken, eosToken: tokenizer.eosToken };
    for (const system of [undefined, 'Sys']) {
      const expected = template.renderText(MESSAGES, specials, system).join('');
      const rendered = tokenizer.applyChatTemplate(chat(MESSAGES, system), { chatTemplate: jinja });
      assert.equal(rendered, expected, `${name} system=${system}`);
    }
  }
  // replace_jinja_template templates overwrite the tokenizer's own chat template; others keep it.
  const qwen = load('qwen3');
  const own = qwen.chatTemplate;
  getTemplate('qwen3', qwen, { log: quiet });
  assert.equal(qwen.chatTemplate, own);
  getTemplate('alpaca', qwen, { log: quiet });
  assert.match(qwen.chatTemplate!, /### Instruction/);
});
