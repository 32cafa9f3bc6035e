// Answering (issue #16 item 5) with a scripted model: sources numbered in the prompt, the answer streamed,
// "not found" without asking the model, and a follow-up rewritten with the history before retrieval.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { GenerationOptions, Message, StreamPiece } from '../../src/infer/chat-engine.js';
import { type AnsweringModel, ask } from '../../src/kb/answer.js';
import { makeRetriever } from '../../src/kb/retriever.js';
import { KnowledgeBase } from '../../src/kb/store.js';
import { words } from '../../src/kb/words.js';
import { tempDir } from '../util/tokenizers.js';

class ScriptedModel implements AnsweringModel {
  readonly seen: Message[][] = [];
  constructor(private readonly replies: string[]) {}
  async chat(messages: readonly Message[], _opts: GenerationOptions) {
    this.seen.push([...messages]);
    return [{ text: this.replies.shift() ?? '' }];
  }
  async chatLive(messages: readonly Message[], _opts: GenerationOptions, onPiece: (p: StreamPiece) => void) {
    this.seen.push([...messages]);
    for (const piece of (this.replies.shift() ?? '').split(/(?<= )/)) onPiece({ text: piece });
    return {};
  }
}

function kbWith(texts: Record<string, string>): KnowledgeBase {
  const kb = KnowledgeBase.create(join(tempDir('kb-answer'), 'kb.sqlite'), {
    chunk_size: 200,
    chunk_overlap: 0,
    chunk_unit: 'chars',
    tokenizer: null,
  });
  for (const [path, text] of Object.entries(texts)) {
    const chunk = { start: 0, end: text.length, heading: 'Facts', page: null, text, hash: text, words: words(text) };
    kb.replaceDocument({ path, format: 'txt', hash: path, bytes: text.length }, [chunk]);
  }
  return kb;
}

const optionsFor = (kb: KnowledgeBase) => ({
  retrieve: makeRetriever(kb, 'bm25', { topK: 3, scoreThreshold: 0.5 }),
  language: 'auto' as const,
  generation: {},
  history: [],
});

test('the prompt numbers the sources with their file and heading; the answer streams', async () => {
  const kb = kbWith({
    '/kb/rivers.txt': 'The Yangtze is the longest river in Asia.',
    '/kb/food.txt': 'Rice grows in paddies.',
  });
  const model = new ScriptedModel(['The Yangtze [1].']);
  let streamed = '';
  const answer = await ask(model, 'Which river is the longest?', optionsFor(kb), (t) => {
    streamed += t;
  });
  assert.equal(answer.found, true);
  assert.equal(streamed, 'The Yangtze [1].');
  assert.equal(answer.answer, streamed);
  assert.deepEqual(
    answer.hits.map((h) => h.source),
    ['/kb/rivers.txt'],
  );
  const prompt = model.seen[0]!.at(-1)!.content as string;
  assert.match(prompt, /\[1\] rivers\.txt, Facts\nThe Yangtze is the longest river in Asia\./);
  assert.match(prompt, /cite the sources you use as \[1\]/);
  assert.match(prompt, /Question: Which river is the longest\?$/);
  kb.close();
});

test('a Chinese question gets the Chinese template', async () => {
  const kb = kbWith({ '/kb/城市.txt': '北京是中国的首都。' });
  const model = new ScriptedModel(['北京 [1]']);
  await ask(model, '中国的首都是哪里？', optionsFor(kb), () => {});
  const prompt = model.seen[0]!.at(-1)!.content as string;
  assert.match(prompt, /请只根据下面编号的资料回答问题/);
  assert.match(prompt, /\[1\] 城市\.txt, Facts\n北京是中国的首都。/);
  kb.close();
});

test('below the threshold the answer is "not found" and the model is never asked', async () => {
  const kb = kbWith({ '/kb/rivers.txt': 'The Yangtze is the longest river in Asia.' });
  const model = new ScriptedModel([]);
  let streamed = '';
  const answer = await ask(model, 'quantum chromodynamics', optionsFor(kb), (t) => {
    streamed += t;
  });
  assert.equal(answer.found, false);
  assert.match(streamed, /Not found in the knowledge base/);
  assert.equal(model.seen.length, 0);
  const zh = await ask(model, '量子色动力学', optionsFor(kb), () => {});
  assert.match(zh.answer, /知识库中没有找到/);
  kb.close();
});

test('a follow-up is rewritten with the history, and retrieval uses the rewrite', async () => {
  const kb = kbWith({
    '/kb/rivers.txt': 'The Yangtze is the longest river in Asia.',
    '/kb/food.txt': 'Rice grows in paddies.',
  });
  const model = new ScriptedModel(['How long is the Yangtze river?', 'About 6300 km [1].']);
  const history: Message[] = [
    { role: 'user', content: 'Tell me about the Yangtze.' },
    { role: 'assistant', content: 'It is a river in China.' },
  ];
  const answer = await ask(model, 'How long is it?', { ...optionsFor(kb), history }, () => {});
  const rewrite = model.seen[0]!.at(-1)!.content as string;
  assert.match(rewrite, /User: Tell me about the Yangtze\.\nAssistant: It is a river in China\./);
  assert.match(rewrite, /Follow-up: How long is it\?/);
  assert.equal(answer.searchedFor, 'How long is the Yangtze river? How long is it?');
  assert.equal(answer.hits[0]?.source, '/kb/rivers.txt');
  // The answer prompt keeps the conversation before the question.
  assert.deepEqual(
    model.seen[1]!.slice(0, 2).map((m) => m.content),
    history.map((m) => m.content),
  );
  kb.close();
});
