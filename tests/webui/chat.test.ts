// The Chat tab's route: answers stream as SSE events; closing the stream (the Stop button, a closed tab) aborts the
// generation and leaves the board up; asking before a model is loaded is a clear 400; paths are confined.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { GenerationStream, StreamPiece } from '../../src/infer/chat-engine.js';
import type { ChatModel } from '../../src/infer/chat-model.js';
import { createBoardApp } from '../../src/webui/app.js';
import { ChatSession } from '../../src/webui/chat-session.js';
import { ExportJob } from '../../src/webui/export-job.js';
import { RunManager } from '../../src/webui/runs.js';
import { WorkDirs } from '../../src/webui/work-dirs.js';
import { tempDir } from '../util/tokenizers.js';

/** A model that says "tok0 tok1 ..." one piece every 5 ms until it has said `limit` pieces or is aborted. */
function fakeModel(limit: number, seen: { aborted: boolean; closed: boolean }): ChatModel {
  return {
    streamChat(_messages: unknown, _opts: unknown, signal?: AbortSignal): GenerationStream {
      let settle: (v: unknown) => void = () => {};
      let fail: (e: unknown) => void = () => {};
      const result = new Promise((res, rej) => {
        settle = res;
        fail = rej;
      });
      async function* pieces(): AsyncGenerator<StreamPiece> {
        for (let i = 0; i < limit; i++) {
          await new Promise((r) => setTimeout(r, 5));
          if (signal?.aborted) {
            seen.aborted = true;
            const e = Object.assign(new Error('aborted'), { name: 'AbortError' });
            fail(e);
            throw e;
          }
          yield { text: `tok${i} ` };
        }
        settle({ text: '', finishReason: 'length', promptTokens: 1, completionTokens: limit });
      }
      return Object.assign(pieces(), { result }) as unknown as GenerationStream;
    },
    async close() {
      seen.closed = true;
    },
  } as unknown as ChatModel;
}

function board(limit: number) {
  const work = tempDir('webui-chat');
  mkdirSync(join(work, 'model'));
  const dirs = new WorkDirs([work]);
  const seen = { aborted: false, closed: false };
  const chat = new ChatSession(dirs, async () => fakeModel(limit, seen));
  const app = createBoardApp({
    workDirs: dirs,
    runs: new RunManager(dirs, { lmforgeBin: 'unused' }),
    chat,
    exportJob: new ExportJob(dirs, 'unused'),
    token: null,
    assetsDir: 'unused',
    initial: {},
  });
  const post = (path: string, body: unknown) =>
    app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { app, post, seen };
}

test('an answer streams as events and ends with done; before a model is loaded the route says what to do', async () => {
  const { post, seen } = board(3);
  const early = await post('/api/chat/stream', { messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(early.status, 400);
  assert.match(((await early.json()) as { error: string }).error, /no model is loaded/);
  assert.equal((await post('/api/chat/load', { model_name_or_path: '../x' })).status, 403);
  const loaded = await post('/api/chat/load', { model_name_or_path: 'model' });
  assert.deepEqual(await loaded.json(), { loaded: true, model: 'model', adapters: [], template: null });
  const res = await post('/api/chat/stream', { messages: [{ role: 'user', content: 'hi' }] });
  const text = await res.text();
  assert.equal(
    text,
    'data: {"text":"tok0 "}\n\ndata: {"text":"tok1 "}\n\ndata: {"text":"tok2 "}\n\ndata: {"done":true}\n\n',
  );
  await post('/api/chat/unload', {});
  assert.equal(seen.closed, true);
});

test('Stop (the stream closed mid-answer) aborts the generation without an unhandled rejection', async () => {
  const { post, seen } = board(10_000);
  await post('/api/chat/load', { model_name_or_path: 'model' });
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const res = await post('/api/chat/stream', { messages: [{ role: 'user', content: 'hi' }] });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /^data: \{"text":"tok0 "\}/);
    await reader.cancel();
    for (let i = 0; i < 100 && !seen.aborted; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(seen.aborted, true, 'the generation saw the abort');
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
