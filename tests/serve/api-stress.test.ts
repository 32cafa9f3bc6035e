/**
 * 64 streaming clients at once on loopback against the API over an in-process scheduled engine (tiny random Llama,
 * Mistral's tokenizer): every fourth client leaves after its first chunks. Every stream must end complete ([DONE])
 * or cancelled by its client, the server must answer afterwards, and the engine must be back to its idle memory
 * (every KV block returned, no tensor left behind).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { liveBytes } from '../../src/engine/index.js';
import { ChatModel } from '../../src/infer/chat-model.js';
import { startApiServer } from '../../src/server/index.js';
import { Rng } from '../util/random.js';
import { tinyMistralDir } from '../util/tiny-model.js';

const CLIENTS = 64;

/** Reads an SSE response; with `leaveAfter` chunks read, cancels it. Returns 'done' or 'cancelled' and the text. */
async function consume(url: string, body: unknown, leaveAfter: number | null): Promise<'done' | 'cancelled'> {
  const controller = new AbortController();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: controller.signal,
  });
  assert.equal(res.status, 200, await (res.status === 200 ? Promise.resolve('') : res.text()));
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  let chunks = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    chunks += (decoder.decode(value).match(/^data: /gm) ?? []).length;
    if (buffered.includes('data: [DONE]')) return 'done';
    if (leaveAfter !== null && chunks >= leaveAfter) {
      controller.abort();
      return 'cancelled';
    }
  }
  throw new Error(`the stream ended without [DONE]: ${buffered.slice(-200)}`);
}

test('64 concurrent streaming clients with random disconnects: all end, server healthy, memory back to idle', async () => {
  const dir = tinyMistralDir(5, { hiddenSize: 64, layers: 2, std: 0.5, maxPositionEmbeddings: 512 });
  const model = await ChatModel.load(
    {
      model_name_or_path: dir,
      template: 'alpaca',
      generating: { do_sample: false, max_new_tokens: 24 },
      serving: { kvBudgetBytes: 4 * 1024 * 1024, maxRunning: CLIENTS },
    },
    { inProcess: true },
  );
  const server = await startApiServer(model, {
    host: '127.0.0.1',
    port: 0,
    modelName: 'tiny',
    maxConcurrent: CLIENTS,
    maxWaiting: 16,
  });
  const scheduler = model.runner?.scheduler;
  assert.ok(scheduler, 'the engine generates through the scheduler');
  try {
    const url = `${server.url}/v1/chat/completions`;
    const ask = (content: string, maxTokens: number) => ({
      model: 'tiny',
      messages: [{ role: 'user', content }],
      max_tokens: maxTokens,
      stream: true,
    });
    assert.equal(await consume(url, ask('warm up', 2), null), 'done');
    await scheduler.idle();
    const idle = liveBytes();
    const rng = new Rng(3);
    const started = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) =>
        consume(url, ask(`question ${i}: ${'why '.repeat(rng.int(40))}`, 4 + rng.int(20)), i % 4 === 0 ? 2 : null),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < 60, `bounded: ${seconds} s`);
    // A leaving client whose answer was short may see [DONE] before it leaves; every staying client completes.
    assert.ok(outcomes.every((o, i) => o === 'done' || i % 4 === 0));
    const cancelled = outcomes.filter((o) => o === 'cancelled').length;
    assert.ok(cancelled >= CLIENTS / 8, `${cancelled} clients left mid-stream`);
    assert.ok(
      scheduler.counters.maxBatch >= 4,
      `requests shared decode steps (max batch ${scheduler.counters.maxBatch})`,
    );
    // The server still answers, and once the cancelled sequences are dropped, memory is what it was idle.
    const models = await fetch(`${server.url}/v1/models`);
    assert.equal(models.status, 200);
    assert.equal(await consume(url, ask('still there?', 3), null), 'done');
    for (let i = 0; i < 100 && scheduler.stats.running + scheduler.stats.waiting > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    await scheduler.idle();
    assert.deepEqual(scheduler.stats, { running: 0, waiting: 0 });
    assert.equal(scheduler.cache.pool.stats.used, 0, 'every KV block returned');
    assert.equal(liveBytes(), idle, 'no tensor left behind');
    console.log(`# ${CLIENTS} clients in ${seconds.toFixed(2)} s, max batch ${scheduler.counters.maxBatch}`);
  } finally {
    await server.close();
    await model.close();
  }
});
