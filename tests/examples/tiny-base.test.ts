// The tiny bundled base model's sources (examples/tiny): its tokenizer, config, corpus, SFT data and recipes
// must load with lmforge's own readers, so the pre-training and the quick start can run from them.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { getTemplate, type Message, parseTemplate } from '../../src/data/template/index.js';
import { checkTrainArgs, parseTrainArgs } from '../../src/hparams/index.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { Tokenizer } from '../../src/tokenizer/index.js';

const BASE = 'examples/tiny/base';
const DATA = 'examples/data';
const readJson = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));
const quiet = () => {};

const CONVERSATION: Message[] = [
  { role: 'user', content: 'Who are you?' },
  { role: 'assistant', content: 'I am Tiny Forge.' },
  { role: 'user', content: '写一首关于月的诗。' },
  { role: 'assistant', content: '《咏月》\n明月照空山，清光落小窗。' },
];
const chat = (messages: Message[], system?: string) => [
  ...(system ? [{ role: 'system', content: system }] : []),
  ...messages.map((m) => ({ role: m.role, content: m.content })),
];

test('tokenizer: 8192 ids, Qwen-style special tokens, no BOS, and a config that agrees', () => {
  const tokenizer = Tokenizer.fromDir(BASE);
  assert.equal(tokenizer.size, 8192);
  assert.deepEqual(
    ['<|endoftext|>', '<|im_start|>', '<|im_end|>'].map((t) => tokenizer.tokenToId(t)),
    [8189, 8190, 8191],
  );
  assert.deepEqual(
    [tokenizer.eosToken, tokenizer.padToken, tokenizer.bosToken, tokenizer.bosTokenId],
    ['<|endoftext|>', '<|endoftext|>', null, null],
  );
  const config = parseModelConfig(readJson(join(BASE, 'config.json')));
  assert.equal(config.architecture, 'LlamaForCausalLM');
  assert.equal(config.vocabSize, tokenizer.size);
  assert.deepEqual([config.bosTokenId, config.eosTokenIds, config.padTokenId], [8189, [8189], 8189]);
  assert.equal(config.tieWordEmbeddings, true);
  const generation = readJson(join(BASE, 'generation_config.json')) as { eos_token_id: number[] };
  assert.deepEqual(generation.eos_token_id, [8191, 8189]);
});

test('tokenizer: Chinese, English and arbitrary Unicode round-trip exactly', async () => {
  const tokenizer = Tokenizer.fromDir(BASE);
  const corpus = readFileSync(join(DATA, 'tiny_pretrain.jsonl'), 'utf8').split('\n').slice(0, 300);
  const samples = [
    ...corpus.filter((l) => l.length > 0).map((l) => (JSON.parse(l) as { text: string }).text),
    '春风又绿江南岸，明月何时照我还。',
    'The quick brown fox jumps over the lazy dog.',
    '  two spaces,\ttabs,\r\nCRLF and trailing space ',
    'Emoji 🙂, accents déjà vu, Cyrillic привет, Arabic مرحبا, control \u0001 and NUL \u0000.',
  ];
  for (const text of samples) {
    const ids = await tokenizer.encode(text, { addSpecialTokens: false });
    assert.ok(
      ids.every((id) => id < 8189),
      `${JSON.stringify(text)} encoded to a special id`,
    );
    assert.equal(tokenizer.decode(ids), text);
  }
  // Common poem characters are single tokens: the vocabulary is fitted to the corpus.
  assert.equal((await tokenizer.encode('月')).length, 1);
  assert.equal((await tokenizer.encode(' the')).length, 1);
});

test('chat template: the qwen template without a default system encodes to the same ids', async () => {
  const tokenizer = Tokenizer.fromDir(BASE);
  for (const system of ['You are a helpful assistant.', undefined]) {
    const rendered = await tokenizer.applyChatTemplate(chat(CONVERSATION, system), { tokenize: true });
    // qwen's own default system (Qwen's) applies only when none is given; the quick start sets it to "".
    const qwen = getTemplate('qwen', tokenizer, { defaultSystem: system === undefined ? '' : null, log: quiet });
    const turns = await qwen.encodeMultiturn(tokenizer, CONVERSATION, system);
    assert.deepEqual(turns.flat(2), rendered);
    const nothink = getTemplate('qwen3_nothink', tokenizer, { log: quiet });
    assert.deepEqual((await nothink.encodeMultiturn(tokenizer, CONVERSATION, system)).flat(2), rendered);
    // The generation prompt ends where the answer starts.
    const [prompt] = await qwen.encodeOneturn(tokenizer, CONVERSATION.slice(0, 2), system);
    const withPrompt = await tokenizer.applyChatTemplate(chat(CONVERSATION.slice(0, 1), system), {
      tokenize: true,
      addGenerationPrompt: true,
    });
    assert.deepEqual(prompt, withPrompt);
  }
  // LLaMA-Factory's parse_template reads the same ChatML slots back from the jinja source.
  const parsed = parseTemplate(tokenizer, 'jinja', quiet);
  const qwen = getTemplate('qwen', tokenizer, { log: quiet });
  assert.deepEqual(parsed.formatUser.slots, qwen.formatUser.slots);
  assert.deepEqual(parsed.formatAssistant.slots, qwen.formatAssistant.slots);
  assert.deepEqual(parsed.formatSystem.slots, qwen.formatSystem.slots);
  assert.equal(parsed.defaultSystem, '');
});

test('corpus and SFT data: registered, within size, in the columns dataset_info names', () => {
  const info = readJson(join(DATA, 'dataset_info.json')) as Record<string, { file_name: string; columns?: object }>;
  assert.deepEqual(info.tiny_pretrain, { file_name: 'tiny_pretrain.jsonl', columns: { prompt: 'text' } });
  assert.deepEqual(info.tiny_sft, { file_name: 'tiny_sft.json' });
  const corpusFile = join(DATA, 'tiny_pretrain.jsonl');
  assert.ok(statSync(corpusFile).size <= 4_000_000, 'the committed corpus must stay within 4 MB');
  const lines = readFileSync(corpusFile, 'utf8').trimEnd().split('\n');
  const texts = lines.map((l) => (JSON.parse(l) as { text: unknown }).text);
  assert.ok(texts.every((t) => typeof t === 'string' && t.length > 0));
  assert.ok(texts.some((t) => /[\u4e00-\u9fff]/.test(t as string)) && texts.some((t) => /^[A-Z]/.test(t as string)));
  const sft = readJson(join(DATA, 'tiny_sft.json')) as { instruction: string; input: string; output: string }[];
  assert.ok(sft.length >= 80);
  for (const r of sft) assert.deepEqual(Object.keys(r), ['instruction', 'input', 'output']);
});

test('recipes: pretrain.yaml and quickstart.yaml parse and pass the argument checks', () => {
  const pretrain = parseTrainArgs(['examples/tiny/pretrain.yaml']);
  assert.deepEqual(checkTrainArgs(pretrain), []);
  assert.deepEqual(
    [pretrain.finetuning.stage, pretrain.finetuning.finetuning_type, pretrain.data.dataset, pretrain.data.cutoff_len],
    ['pt', 'full', ['tiny_pretrain'], 256],
  );
  const quick = parseTrainArgs(['examples/quickstart.yaml']);
  assert.deepEqual(checkTrainArgs(quick), []);
  assert.deepEqual(
    [quick.finetuning.stage, quick.finetuning.finetuning_type, quick.data.template, quick.data.default_system],
    ['sft', 'lora', 'qwen', ''],
  );
  for (const args of [pretrain, quick]) assert.equal(args.model.model_name_or_path, BASE);
});
