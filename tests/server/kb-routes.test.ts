// `lmforge api --kb_root` knowledge-base routes (issue #16 item 6): create, upload/list/remove documents, search,
// and ask (JSON and SSE: content deltas, then the sources, then [DONE]) with a scripted engine as the model.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startApiServer } from '../../src/server/index.js';
import { tempDir } from '../util/tokenizers.js';
import { ScriptedEngine } from './scripted-engine.js';

const DOC = '# Cats\n\nThe cat sat on the mat in the sunny kitchen.\n\n# Dogs\n\nThe dog barked at the postman.\n';

async function withKbServer(fn: (url: string, engine: ScriptedEngine, root: string) => Promise<void>) {
  const engine = new ScriptedEngine({ script: () => ['The cat ', 'sat on ', 'the mat [1].'] });
  const root = tempDir('kb-api');
  const server = await startApiServer(engine, {
    host: '127.0.0.1',
    port: 0,
    modelName: 'lmforge-test',
    maxConcurrent: 1,
    maxWaiting: 4,
    kbRoot: root,
  });
  try {
    await fn(`${server.url}/v1`, engine, root);
  } finally {
    await server.close();
  }
}

async function call(url: string, method: string, body?: unknown) {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> & { data?: unknown[] } };
}

test('knowledge bases are created, filled by upload, listed, searched and emptied over REST', async () => {
  await withKbServer(async (url, _engine, root) => {
    assert.deepEqual((await call(`${url}/kb`, 'GET')).json, { object: 'list', data: [] });
    assert.equal((await call(`${url}/kb`, 'POST', { name: 'pets', chunk_size: 80, chunk_overlap: 0 })).status, 201);
    assert.equal((await call(`${url}/kb`, 'POST', { name: 'pets' })).status, 400, 'a second create is refused');
    assert.equal((await call(`${url}/kb`, 'POST', { name: '../evil' })).status, 400, 'names cannot be paths');
    const added = await call(`${url}/kb/pets/documents`, 'POST', { files: [{ name: 'pets.md', content: DOC }] });
    assert.equal(added.status, 200);
    assert.equal((added.json.files as Array<{ status: string }>)[0]?.status, 'added');
    const docs = await call(`${url}/kb/pets/documents`, 'GET');
    const path = (docs.json.data as Array<{ path: string; chunks: number }>)[0]?.path as string;
    assert.equal(path, join(root, 'pets.files', 'pets.md'));
    const list = (await call(`${url}/kb`, 'GET')).json.data as Array<{
      name: string;
      documents: number;
      chunks: number;
    }>;
    assert.deepEqual(
      list.map((k) => [k.name, k.documents]),
      [['pets', 1]],
    );
    const found = await call(`${url}/kb/pets/search`, 'POST', { query: 'where did the cat sit', top_k: 1 });
    const hits = found.json.data as Array<{ text: string; heading: string; rank: number }>;
    assert.equal(hits.length, 1);
    assert.match(hits[0]?.text ?? '', /cat sat on the mat/);
    assert.equal(hits[0]?.heading, 'Cats');
    assert.equal((await call(`${url}/kb/nope/search`, 'POST', { query: 'x' })).status, 404);
    assert.equal((await call(`${url}/kb/pets/search`, 'POST', { query: 'x', retriever: 'magic' })).status, 400);
    const removed = await call(`${url}/kb/pets/documents`, 'DELETE', { paths: [path] });
    assert.deepEqual(removed.json, { removed: [path], documents: 0 });
    assert.equal(existsSync(path), false, 'the uploaded copy goes with its document');
  });
});

test('ask answers with the served model and its sources, as JSON and streamed as SSE', async () => {
  await withKbServer(async (url, engine) => {
    await call(`${url}/kb`, 'POST', { name: 'pets', chunk_size: 80, chunk_overlap: 0 });
    await call(`${url}/kb/pets/documents`, 'POST', { files: [{ name: 'pets.md', content: DOC }] });
    const plain = await call(`${url}/kb/pets/ask`, 'POST', { question: 'Where did the cat sit?', top_k: 1 });
    assert.equal(plain.json.answer, 'The cat sat on the mat [1].');
    assert.equal(plain.json.found, true);
    assert.match((plain.json.sources as Array<{ text: string }>)[0]?.text ?? '', /mat/);
    const prompt = engine.calls.at(-1)?.messages?.at(-1)?.content ?? '';
    assert.match(String(prompt), /cat sat on the mat/, "the chunk is in the model's prompt");

    const res = await fetch(`${url}/kb/pets/ask`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ question: 'Where did the cat sit?', top_k: 1, stream: true }),
    });
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const events = (await res.text())
      .split('\n\n')
      .filter(Boolean)
      .map((e) => e.replace(/^data: /, ''));
    assert.equal(events.at(-1), '[DONE]');
    const parsed = events.slice(0, -1).map((e) => JSON.parse(e));
    const text = parsed
      .filter((e) => e.object === 'kb.answer.chunk')
      .map((e) => e.choices[0].delta.content)
      .join('');
    assert.equal(text, 'The cat sat on the mat [1].');
    const sources = parsed.at(-1);
    assert.equal(sources.object, 'kb.sources');
    assert.equal(sources.found, true);
    assert.equal(sources.sources.length, 1);

    const none = await call(`${url}/kb/pets/ask`, 'POST', { question: 'zebra quantum', top_k: 1 });
    assert.equal(none.json.found, false, 'nothing retrieved: "not found" without asking the model');
  });
});

test('without --kb_root the API has no /v1/kb routes', async () => {
  const server = await startApiServer(new ScriptedEngine(), {
    host: '127.0.0.1',
    port: 0,
    modelName: 'lmforge-test',
    maxConcurrent: 1,
    maxWaiting: 1,
  });
  try {
    assert.equal((await fetch(`${server.url}/v1/kb`)).status, 404);
  } finally {
    await server.close();
  }
});
