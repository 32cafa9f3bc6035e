import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  getWarmupSteps,
  LrScheduler,
  learningRateAt,
  lrLambda,
  type SchedulerConfig,
  SchedulerError,
} from '../../src/train/index.js';

// Expected values are worked out by hand from transformers/optimization.py's formulas.
const close = (a: number, e: number, label: string) =>
  assert.ok(Math.abs(a - e) <= 1e-12 + 1e-9 * Math.abs(e), `${label}: ${a} vs ${e}`);

function check(config: Omit<SchedulerConfig, 'baseLr'> & { baseLr?: number }, expected: Record<number, number>): void {
  const f = lrLambda({ baseLr: 1, ...config });
  for (const [step, value] of Object.entries(expected)) close(f(Number(step)), value, `${config.type} step ${step}`);
}

test('warmup steps: warmup_steps wins, else ceil(warmup_ratio * total)', () => {
  assert.equal(getWarmupSteps(100, 0, 0.1), 10);
  assert.equal(getWarmupSteps(101, 0, 0.1), 11);
  assert.equal(getWarmupSteps(100, 5, 0.5), 5);
  assert.equal(getWarmupSteps(100, 0, 0), 0);
});

test('linear: warmup from 0, then down to 0 at the last step, never below', () => {
  check({ type: 'linear', totalSteps: 10, warmupSteps: 2 }, { 0: 0, 1: 0.5, 2: 1, 6: 0.5, 9: 0.125, 10: 0, 12: 0 });
  check({ type: 'linear', totalSteps: 10, warmupSteps: 0 }, { 0: 1, 5: 0.5 });
});

test('constant and constant_with_warmup', () => {
  check({ type: 'constant', totalSteps: 10, warmupSteps: 3 }, { 0: 1, 2: 1, 10: 1 });
  check({ type: 'constant_with_warmup', totalSteps: 10, warmupSteps: 4 }, { 0: 0, 1: 0.25, 3: 0.75, 4: 1, 100: 1 });
});

test('cosine: half a cosine after warmup by default; num_cycles changes the wave', () => {
  check({ type: 'cosine', totalSteps: 10, warmupSteps: 0 }, { 0: 1, 5: 0.5, 10: 0 });
  check({ type: 'cosine', totalSteps: 10, warmupSteps: 2 }, { 1: 0.5, 2: 1, 4: 0.8535533905932737, 6: 0.5, 10: 0 });
  // One full cycle comes back up to 1 at the end.
  check({ type: 'cosine', totalSteps: 10, warmupSteps: 0, kwargs: { num_cycles: 1 } }, { 5: 0, 10: 1 });
});

test('cosine_with_restarts: hard restarts at each cycle, 0 from the last step on', () => {
  check(
    { type: 'cosine_with_restarts', totalSteps: 10, warmupSteps: 0, kwargs: { num_cycles: 2 } },
    { 0: 1, 2: 0.6545084971874737, 5: 1, 7: 0.6545084971874737, 10: 0, 11: 0 },
  );
  check({ type: 'cosine_with_restarts', totalSteps: 10, warmupSteps: 0 }, { 5: 0.5 });
});

test('polynomial: from lr to lr_end with the given power, lr_end after the last step', () => {
  const base = { type: 'polynomial' as const, baseLr: 1e-3, totalSteps: 10, warmupSteps: 0 };
  close(learningRateAt(base, 5), 5.0005e-4, 'power 1 step 5');
  close(learningRateAt(base, 10), 1e-7, 'step 10');
  close(learningRateAt(base, 11), 1e-7, 'step 11');
  close(learningRateAt({ ...base, kwargs: { power: 2 } }, 5), 2.50075e-4, 'power 2 step 5');
  close(learningRateAt({ ...base, warmupSteps: 2 }, 1), 5e-4, 'warmup');
  assert.throws(
    () => lrLambda({ ...base, kwargs: { lr_end: 1e-2 } }),
    /lr_end \(0.01\) must be smaller than initial lr/,
  );
});

test('inverse_sqrt: 1/sqrt((step + timescale - warmup) / timescale)', () => {
  check({ type: 'inverse_sqrt', totalSteps: 100, warmupSteps: 4 }, { 2: 0.5, 4: 1, 16: 0.5 });
  check({ type: 'inverse_sqrt', totalSteps: 100, warmupSteps: 0 }, { 0: 1, 30000: 0.5 });
  check({ type: 'inverse_sqrt', totalSteps: 100, warmupSteps: 0, kwargs: { timescale: 25 } }, { 75: 0.5 });
});

test('cosine_with_min_lr: the cosine ends at min_lr (absolute or as a rate)', () => {
  const c = { type: 'cosine_with_min_lr' as const, baseLr: 1e-3, totalSteps: 10, warmupSteps: 0 };
  close(learningRateAt({ ...c, kwargs: { min_lr: 1e-4 } }, 5), 5.5e-4, 'min_lr step 5');
  close(learningRateAt({ ...c, kwargs: { min_lr_rate: 0.1 } }, 10), 1e-4, 'min_lr_rate step 10');
  close(learningRateAt({ ...c, kwargs: { min_lr_rate: 0.1 } }, 0), 1e-3, 'step 0');
  assert.throws(() => lrLambda({ ...c, kwargs: {} }), /One of min_lr or min_lr_rate/);
  assert.throws(() => lrLambda({ ...c, kwargs: { min_lr: 1, min_lr_rate: 0.1 } }), /Only one of min_lr or min_lr_rate/);
});

test('cosine_warmup_with_min_lr counts warmup steps from 1 and decay one step ahead', () => {
  check(
    { type: 'cosine_warmup_with_min_lr', totalSteps: 10, warmupSteps: 4, kwargs: { min_lr_rate: 0.1 } },
    { 0: 0.25, 3: 1, 4: 0.9397114317029974, 9: 0.1 },
  );
  check(
    {
      type: 'cosine_warmup_with_min_lr',
      totalSteps: 10,
      warmupSteps: 5,
      kwargs: { min_lr_rate: 0, warmup_lr_rate: 0.2 },
    },
    { 0: 0.2, 2: 0.6, 4: 1 },
  );
});

test('warmup_stable_decay: warmup, a flat stretch, then the decay down to min_lr_ratio', () => {
  const w = { type: 'warmup_stable_decay' as const, totalSteps: 10, warmupSteps: 2 };
  check({ ...w, kwargs: { num_decay_steps: 4 } }, { 0: 0, 1: 0.5, 2: 1, 5: 1, 6: 1, 8: 0.5, 10: 0, 12: 0 });
  check(
    { ...w, kwargs: { num_decay_steps: 4, decay_type: 'linear', warmup_type: '1-sqrt', min_lr_ratio: 0.1 } },
    { 0: 0.1, 1: 0.36360389693210715, 8: 0.55, 10: 0.1 },
  );
  check({ ...w, kwargs: { num_decay_steps: 4, num_stable_steps: 1 } }, { 3: 0.5 + 0.5, 4: 0.8535533905932737, 7: 0 });
  assert.throws(() => lrLambda({ ...w, baseLr: 1 }), /needs lr_scheduler_kwargs.num_decay_steps/);
  assert.throws(
    () => lrLambda({ ...w, baseLr: 1, kwargs: { num_decay_steps: 2, decay_type: 'exp' } }),
    /Unknown decay type: exp/,
  );
});

test('unknown lr_scheduler_kwargs are refused with a suggestion', () => {
  assert.throws(
    () => lrLambda({ type: 'cosine', baseLr: 1, totalSteps: 10, warmupSteps: 0, kwargs: { num_cycle: 1 } }),
    (e: unknown) => e instanceof SchedulerError && /did you mean 'num_cycles'/.test(e.message),
  );
  assert.throws(
    () => lrLambda({ type: 'linear', baseLr: 1, totalSteps: 10, warmupSteps: 0, kwargs: { power: 1 } }),
    /takes none/,
  );
});

test('LrScheduler follows LambdaLR: lr(0) first, step() after each update, state restores mid-run', () => {
  const config: SchedulerConfig = { type: 'linear', baseLr: 2e-4, totalSteps: 8, warmupSteps: 2 };
  const s = new LrScheduler(config);
  const seen: number[] = [];
  for (let i = 0; i < 5; i++) {
    seen.push(s.lr);
    s.step();
  }
  for (let i = 0; i < 5; i++) close(seen[i] as number, learningRateAt(config, i), `lr ${i}`);
  const saved = JSON.parse(JSON.stringify(s.stateDict()));
  const resumed = new LrScheduler(config);
  resumed.loadStateDict(saved);
  assert.equal(resumed.stepCount, 5);
  for (let i = 5; i < 9; i++) {
    close(resumed.lr, s.lr, `resumed ${i}`);
    s.step();
    resumed.step();
  }
  close(s.lr, 0, 'end');
  assert.throws(() => new LrScheduler({ ...config, type: 'cosine' }).loadStateDict(saved), /keep lr_scheduler_type/);
});

test('reduce_lr_on_plateau: lowers the lr by factor after patience evaluations without improvement', () => {
  const s = new LrScheduler({
    type: 'reduce_lr_on_plateau',
    baseLr: 1e-3,
    totalSteps: 100,
    warmupSteps: 0,
    kwargs: { patience: 1, factor: 0.5, cooldown: 1 },
  });
  const lrs: number[] = [];
  for (const metric of [1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 0.5]) {
    s.step(metric);
    lrs.push(s.lr);
  }
  // bad evaluations: 0.95 (1), 0.96 (2 > patience: halve, cooldown 1), 0.97 (cooldown), 0.98 (1), 0.99 (2: halve)
  assert.deepEqual(lrs, [1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 5e-4, 2.5e-4, 2.5e-4]);
  const state = JSON.parse(JSON.stringify(s.stateDict()));
  const r = new LrScheduler({
    type: 'reduce_lr_on_plateau',
    baseLr: 1e-3,
    totalSteps: 100,
    warmupSteps: 0,
    kwargs: { patience: 1, factor: 0.5, cooldown: 1 },
  });
  r.loadStateDict(state);
  assert.equal(r.lr, 2.5e-4);
  assert.throws(() => s.step(), /needs|steps on an evaluation metric/);
  // min_lr floors the reduction; mode max treats larger as better.
  const m = new LrScheduler({
    type: 'reduce_lr_on_plateau',
    baseLr: 1,
    totalSteps: 1,
    warmupSteps: 0,
    kwargs: { mode: 'max', patience: 0, min_lr: 0.3 },
  });
  m.step(0.5);
  m.step(0.4);
  assert.equal(m.lr, 0.3);
});
