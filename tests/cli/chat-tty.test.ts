import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

// `lmforge chat` in a real terminal (a pty from python3, made its controlling terminal): one question, then `exit` must quit at once with 0.
test('chat in a terminal quits on exit', { timeout: 60_000 }, () => {
  const r = spawnSync('python3', ['tests/cli/fixtures/pty-chat.py', 'exit'], {
    encoding: 'utf8',
    env: { ...process.env, NODE: process.execPath },
    timeout: 55_000,
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^rc 0 /m);
});

// Ctrl-C at the prompt is SIGINT from the terminal (the pty is the chat's controlling terminal): it quits at once.
test('chat in a terminal quits on Ctrl-C', { timeout: 60_000 }, () => {
  const r = spawnSync('python3', ['tests/cli/fixtures/pty-chat.py', 'ctrlc'], {
    encoding: 'utf8',
    env: { ...process.env, NODE: process.execPath },
    timeout: 55_000,
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^rc (-2|130) /m, 'ended by SIGINT');
});

// Ctrl-C while an answer streams (the tiny Llama decodes through the scheduler, which yields between steps): that
// answer stops, the chat asks again, and `exit` quits with 0.
test('chat in a terminal stops an answer on Ctrl-C and goes on', { timeout: 60_000 }, () => {
  const r = spawnSync('python3', ['tests/cli/fixtures/pty-chat.py', 'answer'], {
    encoding: 'utf8',
    env: { ...process.env, NODE: process.execPath },
    timeout: 55_000,
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^rc 0 /m);
});
