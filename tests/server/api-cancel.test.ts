/**
 * A client that leaves during the prefill stops it: the server aborts the request's generation, and the worker,
 * which reads the abort word between prefill chunks (512 positions), is free again within about one chunk, streamed
 * or not. The prompt's full prefill takes ~30 s on a shared core (32k tokens through a 4-layer model of width 128;
 * 16k took 7-19 s); with the abort wired, a request sent after the disconnect is answered in ~0.1-0.3 s.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { type StartedApi, startApi } from '../../src/cli/api.js';
import { tinyMistralDir } from '../util/tiny-model.js';

const dir = tinyMistralDir(5, { maxPositionEmbeddings: 32768, hiddenSize: 128, layers: 4, std: 0.02 });
let api: StartedApi;
let client: OpenAI;
before(async () => {
  api = await startApi(
    ['--host', '127.0.0.1', '--port', '0', '--max_concurrent', '1', '--model_name_or_path', dir],
    {},
  );
  client = new OpenAI({ apiKey: 'none', baseURL: `${api.server.url}/v1`, maxRetries: 0 });
});
after(() => api.close());

const LONG_PROMPT = 'word '.repeat(32_600);
/** Well under the full prefill, well over one chunk of it plus a short request. */
const FREE_WITHIN_MS = 3000;

async function leaveDuringPrefill(path: string, body: Record<string, unknown>): Promise<void> {
  const controller = new AbortController();
  const pending = fetch(`${api.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: controller.signal,
  }).catch((e: Error) => e);
  await new Promise((r) => setTimeout(r, 1000)); // the worker is inside the prefill by now
  controller.abort();
  assert.equal(((await pending) as Error).name, 'AbortError', 'no response came before the client left');
  const started = Date.now();
  const short = await client.completions.create({ model: 'm', prompt: 'Hello', max_tokens: 2 });
  const waited = Date.now() - started;
  assert.equal(short.choices.length, 1);
  assert.ok(waited < FREE_WITHIN_MS, `${path}: the next request waited ${waited} ms: the prefill was not cancelled`);
  console.log(`# ${path}${body.stream ? ' (stream)' : ''}: next request answered ${waited} ms after the disconnect`);
}

test('a disconnect during the prefill of a non-streamed request frees the worker within a chunk', async () => {
  await leaveDuringPrefill('/v1/completions', { model: 'm', prompt: LONG_PROMPT, max_tokens: 1 });
});

test('a disconnect during the prefill of a streamed chat request frees the worker within a chunk', async () => {
  await leaveDuringPrefill('/v1/chat/completions', {
    model: 'm',
    messages: [{ role: 'user', content: LONG_PROMPT }],
    max_tokens: 1,
    stream: true,
  });
});
