import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Tokenizer, TokenizerError } from '../../src/tokenizer/index.js';
import { byteLevel, load, metaLlama3Dir, tempDir, variantDir } from '../util/tokenizers.js';

const mistral = load('mistral');
const llama3 = load('llama3');
const qwen3 = load('qwen3');

const vocabs = new WeakMap<Tokenizer, Record<string, number>>();

/** Ids of vocabulary pieces, looked up one by one (fails on a piece the vocabulary lacks). */
function ids(tokenizer: Tokenizer, pieces: string[]): number[] {
  if (!vocabs.has(tokenizer)) vocabs.set(tokenizer, tokenizer.getVocab());
  const vocab = vocabs.get(tokenizer)!;
  return pieces.map((p) => {
    const id = vocab[p];
    assert.notEqual(id, undefined, `piece ${JSON.stringify(p)} is not in the vocabulary`);
    return id!;
  });
}

test('special tokens, ids and sizes come from tokenizer_config.json and the vocabulary', () => {
  assert.deepEqual(
    [mistral.bosToken, mistral.bosTokenId, mistral.eosToken, mistral.eosTokenId, mistral.unkTokenId],
    ['<s>', 1, '</s>', 2, 0],
  );
  assert.equal(mistral.padToken, null);
  assert.equal(mistral.padTokenId, null);
  assert.deepEqual(
    [mistral.vocabSize, mistral.size, mistral.addBosToken, mistral.addEosToken],
    [32000, 32000, true, false],
  );

  assert.deepEqual([llama3.bosTokenId, llama3.eosToken, llama3.eosTokenId], [128000, '<|end_of_text|>', 128001]);
  assert.deepEqual([llama3.vocabSize, llama3.size, llama3.addBosToken], [128000, 128256, false]);
  assert.equal(llama3.cleanUpTokenizationSpaces, true);

  assert.deepEqual(
    [qwen3.bosToken, qwen3.bosTokenId, qwen3.eosTokenId, qwen3.padTokenId],
    [null, null, 151645, 151643],
  );
  assert.deepEqual([qwen3.vocabSize, qwen3.size, qwen3.modelMaxLength], [151643, 151669, 131072]);
  assert.equal(qwen3.additionalSpecialTokens[0], '<|im_start|>');
  assert.ok(qwen3.allSpecialIds.includes(151644));
});

test('English, Chinese, emoji and special tokens encode to the vocabulary pieces we derive by hand', async () => {
  // Byte-level BPE (Llama 3, Qwen): a word with its leading space is one piece spelled in GPT-2's byte alphabet.
  assert.deepEqual(await llama3.encode('Hello world'), ids(llama3, ['Hello', byteLevel(' world')]));
  assert.deepEqual(await qwen3.encode('Hello world'), ids(qwen3, ['Hello', byteLevel(' world')]));
  assert.deepEqual(await qwen3.encode('你好'), ids(qwen3, [byteLevel('你好')]));
  assert.deepEqual(
    await llama3.encode('你好，世界'),
    ids(llama3, [byteLevel('你'), byteLevel('好'), byteLevel('，'), byteLevel('世界')]),
  );
  // Special tokens written in the text are matched whole; plain text around them is not merged across.
  assert.deepEqual(await qwen3.encode('<|im_start|>user\n'), [151644, ...ids(qwen3, ['user', byteLevel('\n')])]);
  assert.deepEqual(await llama3.encode('<|eot_id|>'), [128009]);

  // Sentencepiece-style (Mistral): BOS from the post-processor, a '▁' word prefix even at the start of the text.
  assert.deepEqual(await mistral.encode('Hello world'), [1, ...ids(mistral, ['▁Hello', '▁world'])]);
  assert.deepEqual(
    await mistral.encode('Hello world', { addSpecialTokens: false }),
    ids(mistral, ['▁Hello', '▁world']),
  );
  assert.deepEqual(await mistral.encode(' Hello', { addSpecialTokens: false }), ids(mistral, ['▁', '▁Hello']));
  assert.deepEqual(await mistral.encode('\n', { addSpecialTokens: false }), ids(mistral, ['▁', '<0x0A>']));
  // A character outside the vocabulary falls back to its UTF-8 bytes.
  const rare = '𝔸';
  const fallback = [...Buffer.from(rare, 'utf8')].map((b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  assert.deepEqual(await mistral.encode(rare, { addSpecialTokens: false }), ids(mistral, ['▁', ...fallback]));
  assert.deepEqual(await mistral.tokenize('Hi'), ['▁Hi']);
});

test('decode round-trips code, whitespace, Chinese and emoji on all three tokenizers', async () => {
  const texts = [
    'def f(x):\n    return x  *  2\n\n\tprint("héllo")  ',
    '混合 text with 中文 and emoji 😀🎉 and CRLF\r\n',
    '  leading spaces and trailing\n',
  ];
  for (const [name, tokenizer] of [
    ['mistral', mistral],
    ['llama3', llama3],
    ['qwen3', qwen3],
  ] as const) {
    for (const text of texts) {
      const encoded = await tokenizer.encode(text, { addSpecialTokens: false });
      // Mistral's decoder drops the one space its normalizer prepended; text starting with spaces keeps the rest.
      assert.equal(
        tokenizer.decode(encoded, { cleanUpTokenizationSpaces: false }),
        text,
        `${name}: ${JSON.stringify(text)}`,
      );
    }
  }
});

test('the synchronous decode equals the Rust library decode, with and without special tokens', async () => {
  const cases: [Tokenizer, string][] = [
    [mistral, 'a\n\n  b <s></s> ok'],
    [llama3, '<|begin_of_text|>x<|eot_id|> y'],
    [qwen3, '<|im_start|>user\n你好<|im_end|>\n<think>\n</think>'],
  ];
  for (const [tokenizer, text] of cases) {
    const encoded = await tokenizer.encode(text);
    for (const skip of [false, true]) {
      const ours = tokenizer.decode(encoded, { skipSpecialTokens: skip, cleanUpTokenizationSpaces: false });
      assert.equal(ours, await tokenizer.nativeDecode(encoded, skip), `${text} skip=${skip}`);
    }
  }
  // <think> is an added but not special Qwen token: skipSpecialTokens keeps it.
  assert.equal(qwen3.decode(await qwen3.encode('<|im_end|><think>'), { skipSpecialTokens: true }), '<think>');
});

test('clean_up_tokenization_spaces (Llama 3 sets it) removes spaces before punctuation on decode', async () => {
  const encoded = await llama3.encode("Hello , world . It 's", { addSpecialTokens: false });
  assert.equal(llama3.decode(encoded), "Hello, world. It's");
  assert.equal(llama3.decode(encoded, { cleanUpTokenizationSpaces: false }), "Hello , world . It 's");
  assert.equal(qwen3.decode(await qwen3.encode('a , b')), 'a , b');
});

test('add_bos_token / add_eos_token rebuild the post-processor for Llama-family classes', async () => {
  const noBos = Tokenizer.fromDir(variantDir('mistral', (c) => (c.add_bos_token = false)));
  assert.equal(noBos.addBosToken, false);
  assert.deepEqual(await noBos.encode('Hello'), ids(mistral, ['▁Hello']));
  const withEos = Tokenizer.fromDir(variantDir('mistral', (c) => (c.add_eos_token = true)));
  assert.deepEqual(await withEos.encode('Hello'), [1, ...ids(mistral, ['▁Hello']), 2]);
  // Qwen2Tokenizer ignores the flags (HF does too): its tokenizer.json decides.
  const qwenFlags = Tokenizer.fromDir(variantDir('qwen3', (c) => (c.add_eos_token = true)));
  assert.deepEqual(await qwenFlags.encode('Hello'), ids(qwen3, ['Hello']));
});

test('emptyTextIds is what encode("") returns, for every post-processor kind', async () => {
  const cases: [string, Tokenizer, number[]][] = [
    ['mistral', mistral, [1]],
    ['llama3 (no BOS)', llama3, []],
    ['qwen3', qwen3, []],
    ['meta llama3', Tokenizer.fromDir(metaLlama3Dir()), [128000]],
    ['mistral add_eos', Tokenizer.fromDir(variantDir('mistral', (c) => (c.add_eos_token = true))), [1, 2]],
  ];
  for (const [name, tokenizer, expected] of cases) {
    assert.deepEqual(await tokenizer.encode(''), expected, name);
    assert.deepEqual(tokenizer.emptyTextIds, expected, name);
  }
});

test('convertTokensToIds maps unknown tokens to unk (or null) and convertIdsToTokens inverts it', () => {
  assert.equal(mistral.convertTokensToIds('no-such-piece'), 0);
  assert.equal(qwen3.convertTokensToIds('no-such-piece'), null);
  assert.deepEqual(qwen3.convertTokensToIds(['<|im_end|>', '<think>']), [151645, 151667]);
  assert.deepEqual(qwen3.convertIdsToTokens([151645, 9707]), ['<|im_end|>', 'Hello']);
  assert.equal(qwen3.convertIdsToTokens(10_000_000), null);
});

test('added special tokens get new ids, are matched whole in text and skipped on decode', async () => {
  const tokenizer = load('mistral');
  assert.equal(tokenizer.addSpecialTokens({ additionalSpecialTokens: ['<|a|>'] }), 1);
  assert.equal(tokenizer.addSpecialTokens({ additionalSpecialTokens: ['<|my_stop|>'] }, false), 1);
  assert.deepEqual(tokenizer.additionalSpecialTokens, ['<|a|>', '<|my_stop|>']);
  assert.equal(tokenizer.size, 32002);
  assert.equal(tokenizer.convertTokensToIds('<|my_stop|>'), 32001);
  const encoded = await tokenizer.encode('hi<|my_stop|>', { addSpecialTokens: false });
  assert.deepEqual(encoded, [...ids(mistral, ['▁hi']), 32001]);
  assert.equal(tokenizer.decode(encoded, { skipSpecialTokens: true }), 'hi');
  assert.equal(tokenizer.decode(encoded), 'hi<|my_stop|>');
  // An existing token is not added again; replacing the EOS just points at it.
  assert.equal(tokenizer.addSpecialTokens({ eosToken: '<unk>' }), 0);
  assert.equal(tokenizer.eosTokenId, 0);
  assert.equal(tokenizer.addTokens(['plainword']), 1);
  assert.equal(tokenizer.addedTokensDecoder.get(32002)?.special, false);
  assert.equal(tokenizer.decode([32002], { skipSpecialTokens: true }), 'plainword');
  // A piece of the base vocabulary becomes a (special) added token in place: no new id.
  assert.equal(tokenizer.addTokens(['plainword', '▁Hello'], true), 0);
  assert.deepEqual([tokenizer.tokenToId('▁Hello'), tokenizer.size], [22557, 32003]);
  assert.equal(tokenizer.decode([32002, 22557], { skipSpecialTokens: true }), 'plainword');
  assert.equal(await tokenizer.nativeDecode([32002, 22557], true), 'plainword');
});

test('applyChatTemplate renders Qwen3 and Llama 3 templates with HF globals and tokenizes without extra BOS', async () => {
  const messages = [
    { role: 'system', content: 'S' },
    { role: 'user', content: 'hi' },
  ];
  assert.equal(
    qwen3.applyChatTemplate(messages, { addGenerationPrompt: true }),
    '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
  );
  assert.equal(
    qwen3.applyChatTemplate(messages.slice(1), { addGenerationPrompt: true, extra: { enable_thinking: false } }),
    '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
  );
  const text = llama3.applyChatTemplate(messages.slice(1));
  assert.equal(
    text,
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
  );
  const tokenized = await llama3.applyChatTemplate(messages.slice(1), { tokenize: true });
  assert.deepEqual(tokenized, await llama3.encode(text, { addSpecialTokens: false }));
  assert.equal(tokenized.filter((id) => id === 128000).length, 1);

  const tools = [{ type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object' } } }];
  const withTools = qwen3.applyChatTemplate(messages.slice(1), { tools });
  assert.ok(
    withTools.includes('<tools>\n{"type": "function", "function": {"name": "f", "description": "d"'),
    withTools,
  );

  const clock = () => new Date(2024, 6, 26, 9, 5);
  assert.equal(
    qwen3.applyChatTemplate([], { chatTemplate: '{{ strftime_now("%d %b %Y %H:%M") }}', now: clock }),
    '26 Jul 2024 09:05',
  );
  assert.throws(
    () => qwen3.applyChatTemplate(messages, { chatTemplate: "{{ raise_exception('no system role') }}" }),
    (e: unknown) => e instanceof TokenizerError && /no system role/.test(e.message),
  );
  assert.throws(() => mistral.applyChatTemplate(messages), /has no chat template/);
});

test('AddedToken objects, special_tokens_map.json, chat_template.jinja and generation_config.json are read', () => {
  const dir = variantDir(
    'mistral',
    (c) => {
      c.bos_token = { __type: 'AddedToken', content: '<s>', lstrip: false, normalized: false, rstrip: false };
      delete c.added_tokens_decoder;
      c.chat_template = [
        { name: 'default', template: 'D' },
        { name: 'tool_use', template: 'T' },
      ];
    },
    {
      'special_tokens_map.json': JSON.stringify({ pad_token: { content: '</s>' }, eos_token: '</s>' }),
      'generation_config.json': JSON.stringify({ bos_token_id: 1, eos_token_id: [2, 7] }),
    },
  );
  const tokenizer = Tokenizer.fromDir(dir);
  assert.deepEqual([tokenizer.bosToken, tokenizer.padToken, tokenizer.padTokenId], ['<s>', '</s>', 2]);
  assert.deepEqual(tokenizer.generation?.eosTokenIds, [2, 7]);
  assert.equal(tokenizer.applyChatTemplate([]), 'D');
  assert.equal(tokenizer.applyChatTemplate([], { tools: [{ name: 'x' }] }), 'T');

  const jinjaDir = variantDir('mistral', () => {}, { 'chat_template.jinja': 'J{{ messages | length }}' });
  assert.equal(Tokenizer.fromDir(jinjaDir).applyChatTemplate([{ role: 'user', content: 'a' }]), 'J1');
  assert.throws(() => Tokenizer.fromDir(tempDir('empty')), /tokenizer\.json not found/);
});

test('save writes a directory that loads back to the same ids, specials and chat template', async () => {
  const tokenizer = load('mistral');
  tokenizer.addSpecialTokens({ eosToken: '<|new_eos|>' });
  tokenizer.chatTemplate = '{{ messages[0].content }}!';
  const dir = tempDir('save');
  tokenizer.save(dir);
  const reloaded = Tokenizer.fromDir(dir);
  assert.deepEqual([reloaded.eosToken, reloaded.eosTokenId, reloaded.size], ['<|new_eos|>', 32000, 32001]);
  assert.deepEqual([reloaded.addBosToken, reloaded.addEosToken], [true, false]);
  assert.equal(reloaded.applyChatTemplate([{ role: 'user', content: 'x' }]), 'x!');
  const text = 'code\n  你好 <s><|new_eos|>';
  assert.deepEqual(await reloaded.encode(text), await tokenizer.encode(text));
  const config = readFileSync(join(dir, 'tokenizer_config.json'), 'utf8');
  // Python must read HF's integer "no limit" back, not the float 1e+30.
  assert.match(config, /"model_max_length": 1000000000000000019884624838656/);
  assert.equal(JSON.parse(config).added_tokens_decoder['32000'].special, true);
});
