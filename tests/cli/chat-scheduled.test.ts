/**
 * `lmforge chat` and ChatModel without `serving` decode through the single user's scheduler (the API's path, one
 * request at a time): the answers, streamed pieces and stop-string cuts are those of generate() (ChatRunner.generate,
 * the path before), greedy and seeded sampling alike; the KV pool grows to fit a larger request; Ctrl-C during an
 * answer aborts it, keeps it out of the history, and the chat goes on.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { chatCommand } from '../../src/cli/chat.js';
import type { GenerationOptions, GenerationResult, Message } from '../../src/infer/chat-engine.js';
import { ChatModel } from '../../src/infer/chat-model.js';
import type { ChatRunner } from '../../src/infer/chat-runner.js';
import { tinyMistralDir } from '../util/tiny-model.js';

const dir = tinyMistralDir(13);
const model = await ChatModel.load(
  { model_name_or_path: dir, template: 'alpaca', generating: { do_sample: false, max_new_tokens: 20 } },
  { inProcess: true },
);
const runner = model.runner as ChatRunner;
after(() => model.close());

/** The answer and its streamed pieces through runner.run (the scheduler) and through generate() (before). */
async function bothPaths(messages: Message[], opts: GenerationOptions) {
  const pieces: string[] = [];
  const [scheduled] = (await runner.run({ kind: 'chat', messages, opts }, (_row, p) => pieces.push(p.text))) as [
    GenerationResult,
  ];
  const old: string[] = [];
  const [direct] = runner.generate(await runner.chatPromptIds(messages), opts, (_row, p) => old.push(p.text)) as [
    GenerationResult,
  ];
  return { scheduled, direct, pieces, old };
}

test('chat decodes through the scheduler with the answers, pieces and stop cuts of generate()', async () => {
  assert.ok(runner.onDemand, 'a Llama gets the single-user scheduler');
  assert.equal(runner.scheduler, null, 'not the API one');
  const turns: Message[][] = [
    [{ role: 'user', content: 'Hi there' }],
    [
      { role: 'user', content: 'Hi there' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'And then, 你好?' },
    ],
  ];
  for (const messages of turns) {
    const { scheduled, direct, pieces, old } = await bothPaths(messages, {});
    assert.ok(scheduled.completionTokens > 3, 'a real answer');
    assert.deepEqual(scheduled, direct);
    assert.deepEqual(pieces, old, 'the same pieces streamed');
    assert.equal(pieces.join(''), scheduled.text);
  }
  assert.ok(runner.onDemand.numBlocks > 0, 'the scheduler holds a pool after the first request');

  // A stop string taken from the greedy answer cuts it at the same place on both paths.
  const full = (await bothPaths(turns[0] as Message[], {})).scheduled.text;
  const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 2);
  const cut = await bothPaths(turns[0] as Message[], { stop: [stop] });
  assert.deepEqual(cut.scheduled, cut.direct);
  assert.ok(cut.scheduled.text.length < full.length, `cut at ${JSON.stringify(stop)}`);
});

test('one sampled choice draws as generate() does (the same seeded draw per step)', async () => {
  const sampler = await ChatModel.load(
    { model_name_or_path: dir, template: 'alpaca', generating: { do_sample: true, top_p: 0.9, max_new_tokens: 20 } },
    { inProcess: true },
  );
  try {
    const messages: Message[] = [{ role: 'user', content: 'Hi there' }];
    const s = sampler.runner as ChatRunner;
    for (const seed of [5, 6]) {
      const opts = { temperature: 1.5, seed };
      const [scheduled] = await s.run({ kind: 'chat', messages, opts });
      const [direct] = s.generate(await s.chatPromptIds(messages), opts);
      assert.deepEqual(scheduled, direct, `seed ${seed}`);
    }
    const [greedy] = await runner.run({ kind: 'chat', messages, opts: {} });
    const [sampled] = await s.run({ kind: 'chat', messages, opts: { temperature: 1.5, seed: 5 } });
    assert.notEqual(sampled?.text, greedy?.text, 'sampling changed the answer');
  } finally {
    await sampler.close();
  }
});

test('a request larger than the pool grows it; the answers stay those of generate()', async () => {
  const onDemand = runner.onDemand;
  assert.ok(onDemand);
  await bothPaths([{ role: 'user', content: 'x' }], { maxTokens: 2 });
  const before = onDemand.numBlocks;
  const { scheduled, direct } = await bothPaths([{ role: 'user', content: 'Tell me a story' }], {
    maxTokens: 16 * before + 40,
  });
  assert.ok(onDemand.numBlocks > before, `grown from ${before} to ${onDemand.numBlocks} blocks`);
  assert.deepEqual(scheduled, direct);
  // n choices at once fit too (one sequence each).
  const three = await runner.run({ kind: 'chat', messages: [{ role: 'user', content: 'Hi' }], opts: { n: 3 } });
  assert.equal(three.length, 3);
});

test('Ctrl-C during an answer aborts it, keeps it out of the history, and the chat goes on', async () => {
  const argv = ['--model_name_or_path', dir, '--template', 'alpaca', '--do_sample', 'false', '--max_new_tokens', '40'];
  const fresh = (await model.chat([{ role: 'user', content: 'And then?' }], { maxTokens: 40 }))[0]?.text as string;
  const input = new PassThrough();
  const output = new PassThrough();
  const interrupts = new EventEmitter();
  let written = '';
  let interrupted = false;
  output.on('data', (chunk: Buffer) => {
    written += chunk.toString();
    // The first piece of the first answer: the user presses Ctrl-C.
    if (!interrupted && /Assistant: .+/.test(written)) {
      interrupted = true;
      interrupts.emit('SIGINT');
    }
  });
  input.end('Hi\nAnd then?\nexit\n');
  const code = await chatCommand(argv, { input, output, interrupts });
  assert.equal(code, 0);
  assert.ok(interrupted);
  assert.match(written, /\(interrupted: this message and its answer were not added to the history\)/);
  const answers = written.split('Assistant: ').slice(1);
  assert.equal(answers.length, 2);
  const second = answers[1] as string;
  assert.equal(second.slice(0, second.indexOf('\n')), fresh, 'the interrupted turn is not in the history');
  assert.equal(interrupts.listenerCount('SIGINT'), 0, 'no handler left once the answer ended');
});
