import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBar, formatClock, formatLogLine, formatRate, Progress } from '../../src/train/index.js';

function fakeStream(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns: 120, write: (s: string) => chunks.push(s) } };
}

test('clock, rate and bar formatting', () => {
  assert.equal(formatClock(83), '01:23');
  assert.equal(formatClock(3723), '1:02:03');
  assert.equal(formatClock(Number.POSITIVE_INFINITY), '?');
  assert.equal(formatRate(1.0833), '1.08it/s');
  assert.equal(formatRate(0.25), '4.00s/it');
  assert.equal(formatRate(0), '?it/s');
  const bar = formatBar(
    { step: 90, total: 200, loss: 1.23456, lr: 4.5e-5 },
    { elapsed: 83, rate: 90 / 83, remaining: 101.4 },
    100,
  );
  assert.equal(
    bar,
    // 100 columns leave a 36-wide bar: 0.45 * 36 = 16.2 cells, 16 full blocks and a quarter block.
    ` 45%|${'█'.repeat(16)}▎${' '.repeat(19)}| 90/200 [01:23<01:41, 1.08it/s, loss=1.2346, lr=4.50e-05]`,
  );
  const line = formatLogLine(
    { step: 90, total: 200, loss: 1.23456, lr: 4.5e-5, epoch: 0.45 },
    { elapsed: 83, rate: 90 / 83, remaining: 101.4 },
  );
  assert.equal(
    line,
    '[train] step 90/200 (45.00%) | 1.08it/s | elapsed 0:01:23 | remaining 0:01:41 | loss 1.2346 | lr 4.50e-05 | epoch 0.45',
  );
});

test('on a terminal the bar redraws in place, at most every redrawInterval, and always at the end', () => {
  const { chunks, stream } = fakeStream(true);
  let now = 0;
  const p = new Progress({ stream, clock: () => now, redrawInterval: 1 });
  p.start(0, 10);
  for (let step = 1; step <= 10; step++) {
    now += 0.3;
    p.update({ step, total: 10, loss: 2 / step });
  }
  p.done();
  // Draws at steps 1, 5 (1.5 s), 8 (2.4 s) and the final 10, then the newline.
  assert.equal(chunks.length, 5);
  for (const c of chunks.slice(0, 4)) assert.ok(c.startsWith('\r') && c.endsWith('\x1b[K'), JSON.stringify(c));
  assert.match(chunks[3] as string, /100%\|█+\| 10\/10 \[00:03<00:00, 3\.33it\/s, loss=0\.2000\]/);
  assert.equal(chunks[4], '\n');
});

test('messages go above the bar, which is then redrawn', () => {
  const { chunks, stream } = fakeStream(true);
  let now = 0;
  const p = new Progress({ stream, clock: () => now });
  p.start(0, 4);
  now = 1;
  p.update({ step: 1, total: 4 });
  p.log('saved checkpoint-1');
  assert.deepEqual(chunks.slice(1, 3), ['\r\x1b[K', 'saved checkpoint-1\n']);
  assert.match(chunks[3] as string, /^\r 25%/);
});

test('elsewhere it prints plain lines every lineInterval, counting only this run for the rate', () => {
  const { chunks, stream } = fakeStream(false);
  let now = 100;
  const p = new Progress({ stream, clock: () => now, lineInterval: 10 });
  p.start(50, 100); // resumed at step 50
  for (let step = 51; step <= 100; step++) {
    now += 1;
    p.update({ step, total: 100, lr: 1e-4 });
  }
  // Lines at steps 51, 61, 71, 81, 91 and the final 100.
  assert.equal(chunks.length, 6);
  assert.equal(
    chunks[0],
    '[train] step 51/100 (51.00%) | 1.00it/s | elapsed 0:00:01 | remaining 0:00:49 | lr 1.00e-04\n',
  );
  assert.match(
    chunks[5] as string,
    /^\[train\] step 100\/100 \(100\.00%\) \| 1\.00it\/s \| elapsed 0:00:50 \| remaining 0:00:00/,
  );
  assert.ok(chunks.every((c) => !c.includes('\r')));
});

test('a PPO step shows its reward beside the loss', () => {
  const t = { elapsed: 1, rate: 1, remaining: 1 };
  const info = { step: 1, total: 2, loss: 0.5, reward: -0.25, lr: 1e-5, epoch: 0.5 };
  assert.match(formatBar(info, t), /loss=0\.5000, reward=-0\.2500, lr=1\.00e-05/);
  assert.match(formatLogLine(info, t), /loss 0\.5000 \| reward -0\.2500 \| lr 1\.00e-05/);
});
