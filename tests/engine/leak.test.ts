import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  add,
  clipGradNorm_,
  dropout,
  Generator,
  keep,
  liveBlocks,
  liveBytes,
  mul,
  randn,
  scale,
  scope,
  sumSquares,
  Tensor,
} from '../../src/engine/index.js';
import { AdamW } from '../../src/train/optimizers.js';

test('50 training-like steps (forward, dropout, backward, clip, AdamW) keep native memory flat', () => {
  const gen = new Generator(1);
  const n = 4096;
  const w = keep(randn([n], gen, 0.02)).requiresGrad_();
  const b = keep(Tensor.zeros([n])).requiresGrad_();
  const opt = new AdamW([{ params: [w] }, { params: [b], weightDecay: 0 }], { lr: 1e-2 });
  const losses: number[] = [];
  const step = () =>
    scope(() => {
      const x = randn([n], gen);
      const h = dropout(add(mul(x, w), b), 0.1, { generator: gen });
      const loss = scale(sumSquares(add(h, scale(x, -0.5))), 1 / n);
      loss.backward();
      clipGradNorm_([w.grad, b.grad], 1.0);
      opt.step();
      opt.zeroGrad();
      losses.push(loss.item());
    });
  step(); // warm-up: the optimizer's moments are allocated here
  const bytes = liveBytes();
  const blocks = liveBlocks();
  for (let i = 0; i < 50; i++) step();
  assert.equal(liveBytes(), bytes, 'live bytes after 50 steps');
  assert.equal(liveBlocks(), blocks, 'live blocks after 50 steps');
  // The loop trains (the target is x / 2, reachable through w): the loss falls.
  assert.ok((losses.at(-1) as number) < 0.5 * (losses[0] as number), `loss ${losses[0]} -> ${losses.at(-1)}`);
  opt.dispose();
  for (const t of [w, b]) t.dispose();
});
