/**
 * `lmforge chat` driven through a pipe, as a user's terminal would drive it: answers stream after "Assistant: ",
 * the history is kept between turns, `clear` forgets it, `exit` quits, --show_speed prints tokens/s.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, test } from 'node:test';
import type { Message } from '../../src/infer/chat-engine.js';
import { ChatModel } from '../../src/infer/chat-model.js';
import { LONG_TEXT } from '../util/long-text.js';
import { tinyMistralDir } from '../util/tiny-model.js';

const dir = tinyMistralDir();
const reference = await ChatModel.load(
  { model_name_or_path: dir, template: 'alpaca', generating: { do_sample: false, max_new_tokens: 8 } },
  { inProcess: true },
);
after(() => reference.close());

function runChat(input: string, extra: string[] = []): string {
  const res = spawnSync(
    process.execPath,
    [
      'bin/lmforge.js',
      'chat',
      '--model_name_or_path',
      dir,
      '--template',
      'alpaca',
      '--do_sample',
      'false',
      '--max_new_tokens',
      '8',
      ...extra,
    ],
    { input, encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(res.status, 0, res.stderr);
  return res.stdout;
}

/** The answers printed after each "Assistant: ". */
function answers(stdout: string): string[] {
  return stdout
    .split('Assistant: ')
    .slice(1)
    .map((s) => s.slice(0, s.indexOf('\n')));
}

test('history is kept between turns, clear forgets it, exit quits', async () => {
  const first = (await reference.chat([{ role: 'user', content: 'Hi' }], {}))[0]?.text as string;
  const history: Message[] = [
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: first },
    { role: 'user', content: 'And then?' },
  ];
  const followUp = (await reference.chat(history, {}))[0]?.text as string;
  const fresh = (await reference.chat([{ role: 'user', content: 'And then?' }], {}))[0]?.text as string;
  assert.notEqual(followUp, fresh, 'the history changes the answer, so the test can tell them apart');

  const out = runChat('Hi\nAnd then?\nclear\nAnd then?\nexit\nnever read\n');
  assert.match(out, /use `clear` to remove the history, use `exit` to exit the application/);
  assert.match(out, /History has been removed\./);
  assert.deepEqual(answers(out), [first, followUp, fresh]);
});

test('--system sets the system prompt; --show_speed prints tokens/s; end of input quits', async () => {
  const system = 'You are terse.';
  const expected = (await reference.chat([{ role: 'user', content: 'Hi' }], { system }))[0];
  const out = runChat('Hi\n', ['--system', system, '--show_speed']);
  assert.deepEqual(answers(out), [expected?.text]);
  assert.match(out, new RegExp(`\\[${expected?.completionTokens} tokens, [\\d.]+ tokens/s\\]`));
});

test('a turn longer than the context (a 2 MB line) says so and the chat goes on with its history intact', async () => {
  const first = (await reference.chat([{ role: 'user', content: 'Hi' }], {}))[0]?.text as string;
  const history: Message[] = [
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: first },
    { role: 'user', content: 'And then?' },
  ];
  const followUp = (await reference.chat(history, {}))[0]?.text as string;
  const out = runChat(`Hi\n${LONG_TEXT}\nAnd then?\nexit\n`);
  assert.match(
    out,
    /Assistant: \(no reply\) This model's maximum context length is 1024 tokens, but your messages are \d+ tokens long.*This message was not added to the history/,
  );
  assert.deepEqual(
    answers(out).filter((a) => !a.startsWith('(no reply)')),
    [first, followUp],
  );
});
