import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueueFullError, RequestQueue } from '../../src/server/request-queue.js';

test('admits maxConcurrent at once, queues maxWaiting in FIFO order, refuses the rest', async () => {
  const q = new RequestQueue(1, 2);
  const first = await q.acquire();
  const order: string[] = [];
  const granted = (name: string) => (release: () => void) => {
    order.push(name);
    return release;
  };
  const b = q.acquire().then(granted('b'));
  const c = q.acquire().then(granted('c'));
  assert.deepEqual(q.stats, { running: 1, waiting: 2 });
  await assert.rejects(q.acquire(), QueueFullError);
  first();
  first(); // a second call is harmless
  const releaseB = await b;
  assert.deepEqual(order, ['b']);
  assert.deepEqual(q.stats, { running: 1, waiting: 1 });
  releaseB();
  (await c)();
  assert.deepEqual(order, ['b', 'c']);
  assert.deepEqual(q.stats, { running: 0, waiting: 0 });
});

test('a waiter whose signal aborts leaves the queue; an aborted signal is refused at once', async () => {
  const q = new RequestQueue(1, 1);
  const release = await q.acquire();
  const controller = new AbortController();
  const waiting = q.acquire(controller.signal);
  controller.abort();
  await assert.rejects(waiting, { name: 'AbortError' });
  assert.deepEqual(q.stats, { running: 1, waiting: 0 });
  await assert.rejects(q.acquire(controller.signal), { name: 'AbortError' });
  release();
  assert.deepEqual(q.stats, { running: 0, waiting: 0 });
  assert.throws(() => new RequestQueue(0, 1), /maxConcurrent must be an integer >= 1/);
  assert.throws(() => new RequestQueue(1, -1), /maxWaiting must be an integer >= 0/);
});
