// Template rules beyond LLaMA-Factory's golden file: efficient EOS, replace_eos, stop ids, the Llama 2 system
// merge, default systems, and the exact text of named templates whose tokenizers we do not ship.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getTemplate, type Message, templateNames } from '../../src/data/template/index.js';
import type { Tokenizer } from '../../src/tokenizer/index.js';
import { load } from '../util/tokenizers.js';

const MESSAGES: Message[] = [
  { role: 'user', content: 'How are you' },
  { role: 'assistant', content: 'I am fine!' },
  { role: 'user', content: '你好' },
  { role: 'assistant', content: '很高兴认识你！' },
];
const quiet = () => {};

const text = (tokenizer: Tokenizer, s: string) => tokenizer.encode(s, { addSpecialTokens: false });

test('efficient EOS (chatglm3): no EOS after a reply; the next prompt opens with a stop token instead', async () => {
  const tokenizer = load('qwen3');
  // ChatGLM3's role tokens, as its vocabulary has them.
  tokenizer.addTokens(['[gMASK]', 'sop', '<|system|>', '<|user|>', '<|assistant|>', '<|observation|>'], true);
  const id = (t: string) => tokenizer.convertTokensToIds(t)!;
  const template = getTemplate('chatglm3', tokenizer, { log: quiet });
  assert.equal(template.efficientEos, true);
  const pairs = await template.encodeMultiturn(tokenizer, MESSAGES, 'S');
  assert.deepEqual(pairs[0]![0], [
    id('[gMASK]'),
    id('sop'),
    id('<|system|>'),
    ...(await text(tokenizer, '\n')),
    ...(await text(tokenizer, 'S')),
    id('<|user|>'),
    ...(await text(tokenizer, '\n')),
    ...(await text(tokenizer, 'How are you')),
    id('<|assistant|>'),
  ]);
  assert.deepEqual(pairs[0]![1], [...(await text(tokenizer, '\n')), ...(await text(tokenizer, 'I am fine!'))]);
  assert.equal(pairs[1]![0][0], id('<|user|>'));
  assert.deepEqual(template.stopIds(tokenizer), [151645, id('<|user|>'), id('<|observation|>')]);
  assert.throws(() => getTemplate('chatglm3', tokenizer, { trainOnPrompt: true, log: quiet }), /train_on_prompt/);
  // Without its role tokens in the vocabulary the template cannot encode and says which token is missing.
  const plain = load('mistral');
  const glm = getTemplate('chatglm3', plain, { log: quiet });
  await assert.rejects(glm.encodeOneturn(plain, MESSAGES.slice(0, 2)), /\[gMASK\].*not in the tokenizer's vocabulary/);
});

test('glm4 writes its prefix and roles as text, still with efficient EOS', async () => {
  const tokenizer = load('qwen3');
  const template = getTemplate('glm4', tokenizer, { log: quiet });
  const [prompt, answer] = await template.encodeOneturn(tokenizer, MESSAGES.slice(0, 2));
  assert.equal(tokenizer.decode(prompt), '[gMASK]<sop><|user|>\nHow are you<|assistant|>');
  assert.equal(tokenizer.decode(answer), '\nI am fine!');
});

test('replace_eos: the first stop word becomes EOS, the rest are added; pad falls back to EOS', async () => {
  const tokenizer = load('llama3');
  assert.equal(tokenizer.eosToken, '<|end_of_text|>');
  const template = getTemplate('llama3', tokenizer, { log: quiet });
  assert.deepEqual([tokenizer.eosToken, tokenizer.eosTokenId], ['<|eot_id|>', 128009]);
  assert.deepEqual([tokenizer.padToken, tokenizer.padTokenId], ['<|eot_id|>', 128009]);
  // Llama 3.0's vocabulary has no <|eom_id|>: it is added (the model must resize its embeddings).
  assert.equal(tokenizer.size, 128257);
  assert.deepEqual(template.stopIds(tokenizer), [128009, 128256]);
  assert.ok(tokenizer.additionalSpecialTokens.includes('<|eom_id|>'));
  // Applying it again changes nothing.
  assert.equal(template.fixSpecialTokens(tokenizer, quiet), 0);

  // {eos_token} slots follow the replaced EOS: the `default` template on a tokenizer whose EOS was swapped.
  const qwen = load('qwen3');
  qwen.addSpecialTokens({ eosToken: '<|endoftext|>' });
  const fallback = getTemplate('default', qwen, { log: quiet });
  const [, answer] = await fallback.encodeOneturn(qwen, MESSAGES.slice(0, 2));
  assert.equal(qwen.decode(answer), 'I am fine!<|endoftext|>\n');
  assert.deepEqual(fallback.stopIds(qwen), [151643]);
});

test('a missing EOS becomes <|endoftext|> and a missing pad becomes EOS', async () => {
  const tokenizer = load('mistral');
  tokenizer.eosToken = null;
  const template = getTemplate('empty', tokenizer, { log: quiet });
  assert.deepEqual(
    [tokenizer.eosToken, tokenizer.eosTokenId, tokenizer.padToken],
    ['<|endoftext|>', 32000, '<|endoftext|>'],
  );
  assert.deepEqual(template.stopIds(tokenizer), [32000]);
});

test('llama2: BOS before every user turn, system merged into the first one, EOS after replies', async () => {
  const tokenizer = load('mistral');
  const template = getTemplate('llama2', tokenizer, { log: quiet });
  const pairs = await template.encodeMultiturn(tokenizer, MESSAGES, 'Be kind.');
  const decoded = pairs.map(([p, a]) => [tokenizer.decode(p), tokenizer.decode(a)]);
  assert.deepEqual(decoded, [
    ['<s> [INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHow are you [/INST]', 'I am fine!</s>'],
    ['<s> [INST] 你好 [/INST]', '很高兴认识你！</s>'],
  ]);
  // Ids: BOS, then the turn text encoded on its own (sentencepiece prefix space included), EOS from the vocab.
  assert.deepEqual(pairs[1]![0], [1, ...(await text(tokenizer, '[INST] 你好 [/INST]'))]);
  assert.deepEqual(pairs[1]![1], [...(await text(tokenizer, '很高兴认识你！')), 2]);
  assert.equal(tokenizer.padToken, '</s>');

  const zh = getTemplate('llama2_zh', tokenizer, { log: quiet });
  const [prompt] = await zh.encodeOneturn(tokenizer, MESSAGES.slice(0, 2));
  assert.equal(
    tokenizer.decode(prompt),
    '<s> [INST] <<SYS>>\nYou are a helpful assistant. 你是一个乐于助人的助手。\n<</SYS>>\n\nHow are you [/INST]',
  );
  const custom = getTemplate('llama2_zh', tokenizer, { defaultSystem: 'Hi.', log: quiet });
  const [customPrompt] = await custom.encodeOneturn(tokenizer, MESSAGES.slice(0, 2));
  assert.match(tokenizer.decode(customPrompt), /<<SYS>>\nHi\.\n<<\/SYS>>/);
});

test('mistral: [INST] turns with the system merged, a space before replies, EOS after them', async () => {
  const tokenizer = load('mistral');
  const template = getTemplate('mistral', tokenizer, { log: quiet });
  const [prompt, answer] = await template.encodeOneturn(tokenizer, MESSAGES, 'Sys');
  // The reply slot " {{content}}" is encoded on its own, and this (legacy) sentencepiece normalizer prepends
  // '▁' to every encoded text: the reply starts with '▁', '▁I' and decodes with two spaces. That is what
  // LLaMA-Factory produces with this tokenizer too; ids, not strings, are the contract.
  assert.equal(tokenizer.decode(prompt), '<s> [INST] Sys\n\nHow are you[/INST]  I am fine!</s> [INST] 你好[/INST]');
  const reply = await text(tokenizer, ' I am fine!');
  assert.deepEqual(reply.slice(0, 2), [tokenizer.tokenToId('▁'), tokenizer.tokenToId('▁I')]);
  assert.deepEqual(answer, [...(await text(tokenizer, ' 很高兴认识你！')), 2]);
});

test('every message role order error names the template and the turn', async () => {
  const tokenizer = load('mistral');
  const template = getTemplate('qwen', tokenizer, { log: quiet });
  const bad = [{ role: 'system', content: 'x' }] as Message[];
  await assert.rejects(template.encodeOneturn(tokenizer, bad), /template qwen: unexpected role "system" at turn 0/);
  assert.throws(() => getTemplate('qwen25', tokenizer), /does not exist\. Did you mean qwen/);
});

/** Exact strings of named templates: the text LLaMA-Factory lays out, checked without their tokenizers. */
const SPECIALS = { bosToken: '<s>', eosToken: '</s>' };
const STRINGS: Record<string, { system?: string; expected: string[]; specials?: typeof SPECIALS }> = {
  default: {
    system: 'S',
    expected: [
      'System: S</s>\nHuman: How are you</s>\nAssistant:',
      'I am fine!</s>\n',
      'Human: 你好</s>\nAssistant:',
      '很高兴认识你！</s>\n',
    ],
  },
  empty: { expected: ['How are you', 'I am fine!', '你好', '很高兴认识你！'] },
  alpaca: {
    expected: [
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
        '### Instruction:\nHow are you\n\n### Response:\n',
      'I am fine!</s>\n\n',
      '### Instruction:\n你好\n\n### Response:\n',
      '很高兴认识你！</s>\n\n',
    ],
  },
  vicuna: {
    expected: [
      'A chat between a curious user and an artificial intelligence assistant. ' +
        "The assistant gives helpful, detailed, and polite answers to the user's questions.USER: How are you ASSISTANT:",
      'I am fine!</s>',
      'USER: 你好 ASSISTANT:',
      '很高兴认识你！</s>',
    ],
  },
  fewshot: { expected: ['How are you', 'I am fine!\n\n', '你好', '很高兴认识你！\n\n'] },
  yi: {
    system: 'S',
    expected: [
      '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHow are you<|im_end|>\n<|im_start|>assistant\n',
      'I am fine!<|im_end|>\n',
      '<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n',
      '很高兴认识你！<|im_end|>\n',
    ],
  },
  smollm2: {
    expected: [
      '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face.<|im_end|>\n' +
        '<|im_start|>user\nHow are you<|im_end|>\n<|im_start|>assistant\n',
      'I am fine!<|im_end|>\n',
      '<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n',
      '很高兴认识你！<|im_end|>\n',
    ],
  },
  deepseek3: {
    specials: { bosToken: '<｜begin▁of▁sentence｜>', eosToken: '<｜end▁of▁sentence｜>' },
    expected: [
      '<｜begin▁of▁sentence｜><｜User｜>How are you<｜Assistant｜>',
      'I am fine!<｜end▁of▁sentence｜>',
      '<｜User｜>你好<｜Assistant｜>',
      '很高兴认识你！<｜end▁of▁sentence｜>',
    ],
  },
  // LLaMA-Factory's test_gemma_template strings (its tokenizer is gated).
  gemma: {
    specials: { bosToken: '<bos>', eosToken: '<end_of_turn>' },
    expected: [
      '<bos><start_of_turn>user\nHow are you<end_of_turn>\n<start_of_turn>model\n',
      'I am fine!<end_of_turn>\n',
      '<start_of_turn>user\n你好<end_of_turn>\n<start_of_turn>model\n',
      '很高兴认识你！<end_of_turn>\n',
    ],
  },
  phi: {
    system: 'S',
    expected: [
      '<|system|>\nS<|end|>\n<|user|>\nHow are you<|end|>\n<|assistant|>\n',
      'I am fine!<|end|>\n',
      '<|user|>\n你好<|end|>\n<|assistant|>\n',
      '很高兴认识你！<|end|>\n',
    ],
  },
  // {{idx}} counts the rounds from 0.
  chatglm2: {
    expected: [
      '[gMASK]sop[Round 0]\n\n问：How are you\n\n答：',
      'I am fine!',
      '[Round 1]\n\n问：你好\n\n答：',
      '很高兴认识你！',
    ],
  },
  // The families lmforge trains beyond Llama (issue #18), as their own chat templates lay out a conversation (their
  // tokenizers are gated or not available here, so the check is string by string): Gemma 2 and Gemma 3 as Gemma
  // (<bos>, <start_of_turn>{role}, <end_of_turn>), InternLM2 ChatML after <s>, Baichuan 2's reserved role tokens
  // (the EOS after each answer is the efficient EOS the encoder appends).
  gemma2: {
    specials: { bosToken: '<bos>', eosToken: '<eos>' },
    expected: [
      '<bos><start_of_turn>user\nHow are you<end_of_turn>\n<start_of_turn>model\n',
      'I am fine!<end_of_turn>\n',
      '<start_of_turn>user\n你好<end_of_turn>\n<start_of_turn>model\n',
      '很高兴认识你！<end_of_turn>\n',
    ],
  },
  gemma3: {
    specials: { bosToken: '<bos>', eosToken: '<eos>' },
    expected: [
      '<bos><start_of_turn>user\nHow are you<end_of_turn>\n<start_of_turn>model\n',
      'I am fine!<end_of_turn>\n',
      '<start_of_turn>user\n你好<end_of_turn>\n<start_of_turn>model\n',
      '很高兴认识你！<end_of_turn>\n',
    ],
  },
  intern2: {
    system: 'S',
    expected: [
      '<s><|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHow are you<|im_end|>\n<|im_start|>assistant\n',
      'I am fine!<|im_end|>\n',
      '<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n',
      '很高兴认识你！<|im_end|>\n',
    ],
  },
  baichuan2: {
    expected: [
      '<reserved_106>How are you<reserved_107>',
      'I am fine!',
      '<reserved_106>你好<reserved_107>',
      '很高兴认识你！',
    ],
  },
  // LLaMA-Factory's test_phi4_template strings.
  phi4: {
    expected: [
      '<|im_start|>user<|im_sep|>How are you<|im_end|><|im_start|>assistant<|im_sep|>',
      'I am fine!<|im_end|>',
      '<|im_start|>user<|im_sep|>你好<|im_end|><|im_start|>assistant<|im_sep|>',
      '很高兴认识你！<|im_end|>',
    ],
  },
};

test('named templates lay out the exact strings LLaMA-Factory defines', async () => {
  const tokenizer = load('mistral');
  for (const [name, { system, expected, specials }] of Object.entries(STRINGS)) {
    const template = getTemplate(name, tokenizer, { log: quiet });
    assert.deepEqual(template.renderText(MESSAGES, specials ?? SPECIALS, system), expected, name);
  }
  // gemma (and Gemma 2 / 3, whose chat templates do the same) merge the system into the first user turn.
  for (const name of ['gemma', 'gemma2', 'gemma3']) {
    const gemma = getTemplate(name, tokenizer, { log: quiet });
    assert.equal(
      gemma.renderText(MESSAGES.slice(0, 1), { bosToken: '<bos>', eosToken: null }, 'S')[0],
      '<bos><start_of_turn>user\nS\n\nHow are you<end_of_turn>\n<start_of_turn>model\n',
      name,
    );
  }
  // Every registered template lays each message out once, with its content, in order.
  for (const name of templateNames()) {
    const parts = getTemplate(name, tokenizer, { log: quiet }).renderText(MESSAGES, SPECIALS);
    assert.equal(parts.length, MESSAGES.length, name);
    for (const [i, part] of parts.entries()) {
      assert.ok(part.includes(MESSAGES[i]!.content), `${name} turn ${i}: ${part}`);
    }
  }
  for (const name of [
    'llama2',
    'llama2_zh',
    'llama3',
    'mistral',
    'qwen',
    'qwen3',
    'qwen3_nothink',
    'chatglm3',
    'glm4',
  ]) {
    assert.ok(templateNames().includes(name), name);
  }
});
