// The board's token (issue #15 item 5): a non-loopback address needs one; with one set every route, the page and
// the event streams included, answers 401 without it and works with it as a bearer header, ?token= or the cookie.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLoopback, tokenMatches } from '../../src/webui/auth.js';
import { checkBoardOptions, startBoard } from '../../src/webui/serve.js';
import { tempDir } from '../util/tokenizers.js';

const TOKEN = 'sesame-0123456789';

test('0.0.0.0 or another non-loopback host without a token is refused; loopback is not', () => {
  for (const host of ['0.0.0.0', '192.168.1.5', '::']) {
    assert.throws(() => checkBoardOptions({ host, token: null }), /needs|--token/);
  }
  for (const host of ['127.0.0.1', 'localhost', '::1']) {
    assert.doesNotThrow(() => checkBoardOptions({ host, token: null }));
    assert.equal(isLoopback(host), true);
  }
  assert.doesNotThrow(() => checkBoardOptions({ host: '0.0.0.0', token: TOKEN }));
  assert.throws(() => checkBoardOptions({ host: '0.0.0.0', token: 'short' }), /at least 8/);
  assert.equal(tokenMatches(TOKEN, TOKEN), true);
  assert.equal(tokenMatches(`${TOKEN}x`, TOKEN), false);
  assert.equal(tokenMatches(undefined, TOKEN), false);
});

test('with a token, every route and stream needs it; each of the three ways to send it works', async () => {
  const work = tempDir('webui-auth');
  const board = await startBoard({ host: '127.0.0.1', port: 0, token: TOKEN, workDirs: [work] });
  try {
    const routes = ['/', '/assets/board.js', '/api/info', '/api/models', `/api/train/events?output_dir=saves/x`];
    for (const route of routes) {
      const res = await fetch(board.url + route);
      assert.equal(res.status, 401, route);
      await res.body?.cancel();
      const wrong = await fetch(board.url + route, { headers: { authorization: 'Bearer wrong-token-000' } });
      assert.equal(wrong.status, 401, `${route} wrong token`);
      await wrong.body?.cancel();
    }
    const post = await fetch(`${board.url}/api/train/start`, { method: 'POST', body: '{}' });
    assert.equal(post.status, 401);
    const bearer = await fetch(`${board.url}/api/info`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(bearer.status, 200);
    const page = await fetch(`${board.url}/?token=${TOKEN}`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>lmforge board<\/title>/);
    const cookie = page.headers.get('set-cookie')?.split(';')[0];
    assert.ok(cookie, 'the page sets the token cookie');
    const withCookie = await fetch(`${board.url}/api/models`, { headers: { cookie } });
    assert.equal(withCookie.status, 200);
    const stream = await fetch(`${board.url}/api/train/events?output_dir=saves/x`, { headers: { cookie } });
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = stream.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /^data: \{"outputDir":"saves\/x","status":"idle"/);
    await reader.cancel();
  } finally {
    await board.close();
  }
});

test('routes refuse paths outside the work dirs with 403', async () => {
  const work = tempDir('webui-403');
  const board = await startBoard({ host: '127.0.0.1', port: 0, token: null, workDirs: [work] });
  try {
    for (const route of ['/api/datasets?dir=..', '/api/datasets?dir=/etc', '/api/train/state?output_dir=../x']) {
      const res = await fetch(board.url + route);
      assert.equal(res.status, 403, route);
      assert.match(((await res.json()) as { error: string }).error, /outside the board's work dirs/);
    }
    const save = await fetch(`${board.url}/api/args/save`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/tmp/escaped.yaml', args: { a: 1 } }),
    });
    assert.equal(save.status, 403);
    const start = await fetch(`${board.url}/api/train/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ args: { output_dir: 'saves/a', model_name_or_path: '../../model' } }),
    });
    assert.equal(start.status, 403);
  } finally {
    await board.close();
  }
});
