import assert from 'node:assert/strict';
import { test } from 'node:test';
import { liveBytes } from '../../src/engine/index.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { createModel } from '../../src/models/loading.js';
import type { CausalLM } from '../../src/models/model.js';
import { Scheduler, SchedulerFullError, type SequenceRequest } from '../../src/serve/scheduler.js';
import { Rng } from '../util/random.js';

const GREEDY = { doSample: false, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };

/** A random Llama with GQA and an odd head count, std large enough that greedy answers vary. */
function tinyModel(seed = 3): CausalLM {
  const cfg = parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 97,
    hidden_size: 48,
    intermediate_size: 96,
    num_hidden_layers: 2,
    num_attention_heads: 6,
    num_key_value_heads: 2,
    max_position_embeddings: 512,
  });
  return createModel(cfg, { seed, std: 0.5 });
}

function prompts(count: number, seed: number, minLen = 3, maxLen = 60): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () =>
    Array.from({ length: minLen + rng.int(maxLen - minLen) }, () => 1 + rng.int(96)),
  );
}

test('greedy output of each request is the same alone as in a batch of 16 with others joining and leaving', async () => {
  const model = tinyModel();
  const ps = prompts(16, 7);
  const lengths = ps.map((_, i) => 4 + ((i * 7) % 13));
  try {
    const alone: number[][] = [];
    const single = new Scheduler(model.module, { numBlocks: 64, blockSize: 8, prefixCaching: false });
    for (const [i, p] of ps.entries())
      alone.push((await single.submit({ prompt: p, maxNewTokens: lengths[i] as number, sampling: GREEDY })).tokens);
    await single.close();
    // The same answers as the reference generate() (left-padded KV cache), one request at a time.
    for (const [i, p] of ps.entries())
      assert.deepEqual(
        alone[i],
        model.generateDetailed([p], { maxNewTokens: lengths[i] as number, stop: [] }).tokens[0],
        `request ${i} vs generate()`,
      );

    // Batched: a small token budget (chunked prefill), requests arriving while others decode, lengths that differ so
    // sequences leave at different steps.
    const sched = new Scheduler(model.module, { numBlocks: 256, blockSize: 8, tokenBudget: 40, prefixCaching: false });
    const results: Promise<number[]>[] = [];
    for (const [i, p] of ps.entries()) {
      results.push(
        sched.submit({ prompt: p, maxNewTokens: lengths[i] as number, sampling: GREEDY }).then((r) => r.tokens),
      );
      if (i % 4 === 3) await new Promise((r) => setImmediate(r)); // let a few steps run before the next ones join
    }
    const batched = await Promise.all(results);
    for (const [i] of ps.entries()) assert.deepEqual(batched[i], alone[i], `request ${i} batched`);
    assert.ok(sched.counters.maxBatch > 4, `sequences shared steps (max batch ${sched.counters.maxBatch})`);
    assert.equal(sched.cache.pool.stats.used, 0, 'every block returned');
    await sched.close();
  } finally {
    model.dispose();
  }
});

test('a request with the same system prompt reuses its cached blocks and answers the same', async () => {
  const model = tinyModel(4);
  const system = prompts(1, 9, 40, 41)[0] as number[];
  const [q1, q2] = prompts(2, 10, 5, 9) as [number[], number[]];
  try {
    const sched = new Scheduler(model.module, { numBlocks: 64, blockSize: 8 });
    const req = (p: number[]): SequenceRequest => ({ prompt: p, maxNewTokens: 6, sampling: GREEDY });
    const first = await sched.submit(req([...system, ...q1]));
    assert.equal(first.cachedTokens, 0);
    const hits = sched.cache.pool.stats.prefixHits;
    const second = await sched.submit(req([...system, ...q2]));
    assert.equal(second.cachedTokens, 40, 'the system prompt blocks (5 x 8 positions) came from the cache');
    assert.equal(sched.cache.pool.stats.prefixHits - hits, 5);
    // The same prompt again: every full block but the one with the last position is reused; same greedy answer.
    const again = await sched.submit(req([...system, ...q1]));
    assert.deepEqual(again.tokens, first.tokens);
    assert.ok(again.cachedTokens >= 40);
    await sched.close();
    const fresh = new Scheduler(model.module, { numBlocks: 64, blockSize: 8, prefixCaching: false });
    assert.deepEqual((await fresh.submit(req([...system, ...q2]))).tokens, second.tokens, 'same answer uncached');
    await fresh.close();
  } finally {
    model.dispose();
  }
});

test('a full pool preempts and recomputes; a full queue refuses; aborts free their blocks', async () => {
  const before = liveBytes();
  const model = tinyModel(5);
  const ps = prompts(6, 12, 10, 20);
  try {
    const roomy = new Scheduler(model.module, { numBlocks: 128, blockSize: 4, prefixCaching: false });
    const want = await Promise.all(ps.map((p) => roomy.submit({ prompt: p, maxNewTokens: 12, sampling: GREEDY })));
    await roomy.close();
    // 16 blocks of 4 positions cannot hold six sequences of up to 32 positions: some are preempted and recomputed.
    const tight = new Scheduler(model.module, { numBlocks: 16, blockSize: 4, prefixCaching: false, maxWaiting: 8 });
    const got = await Promise.all(ps.map((p) => tight.submit({ prompt: p, maxNewTokens: 12, sampling: GREEDY })));
    assert.ok(tight.counters.preemptions > 0, 'the pool ran out');
    assert.deepEqual(
      got.map((r) => r.tokens),
      want.map((r) => r.tokens),
    );
    await assert.rejects(
      tight.submit({ prompt: Array(70).fill(1), maxNewTokens: 1, sampling: GREEDY }),
      /need 18 KV blocks of 4 positions, but the KV budget holds 16/,
    );
    await tight.close();

    const small = new Scheduler(model.module, { numBlocks: 64, blockSize: 4, maxRunning: 1, maxWaiting: 1 });
    const signal = { aborted: false };
    const running = small.submit({ prompt: [1, 2, 3], maxNewTokens: 200, sampling: GREEDY, signal });
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r)); // it runs: the queue is empty again
    const queued = small.submit({ prompt: [4, 5], maxNewTokens: 2, sampling: GREEDY });
    await assert.rejects(small.submit({ prompt: [6], maxNewTokens: 1, sampling: GREEDY }), SchedulerFullError);
    await new Promise((r) => setImmediate(r));
    signal.aborted = true;
    assert.equal((await running).finishReason, 'abort');
    assert.equal((await queued).tokens.length, 2);
    assert.equal(small.cache.pool.stats.used, 0);
    await small.close();
  } finally {
    model.dispose();
  }
  assert.equal(liveBytes(), before, 'pools, step tensors and the model all freed');
});

test('requests submitted after the loop went idle start a new loop (one that ended in its first step too)', async () => {
  const model = tinyModel(6);
  try {
    const sched = new Scheduler(model.module, { numBlocks: 32, blockSize: 4 });
    const one = (p: number[]) => sched.submit({ prompt: p, maxNewTokens: 1, sampling: GREEDY });
    assert.equal((await one([1, 2, 3])).tokens.length, 1);
    const later = await Promise.all([one([4, 5]), one([6, 7, 8]), one([9])]);
    assert.deepEqual(
      later.map((r) => r.tokens.length),
      [1, 1, 1],
    );
    assert.equal(sched.counters.steps, 2, 'the three later requests shared one step');
    await sched.close();
  } finally {
    model.dispose();
  }
});
