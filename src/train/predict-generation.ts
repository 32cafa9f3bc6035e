/**
 * do_predict's generation, batch by batch in record order. A family with paged attention decodes through the
 * continuous-batching scheduler (src/serve/scheduler.ts): every record is queued at once, per_device_eval_batch_size
 * sequences run together, and a finished sequence's slot goes to the next record at the next step instead of
 * waiting for the longest answer of its batch (no left padding either). Greedy answers are generate()'s; sampled
 * rows draw from one seed per record (seed + record index) instead of one per batch. Other families keep
 * generate() over left-padded batches. PPO's rollouts (ppo.ts) decode through here too: the policy's LoRA weights
 * are read by every forward as they are at that step, and the scheduler is made per call (no KV from older weights).
 */
import type { SamplingOptions } from '../infer/sampling.js';
import type { CausalLM } from '../models/causal-lm.js';
import { Scheduler, type SequenceResult } from '../serve/scheduler.js';
import { maxOf } from '../util/arrays.js';

export interface PredictGenerationOptions {
  /** New tokens at most: one limit for every batch, or one per batch (PPO: max_length - the batch's longest prompt). */
  maxNewTokens: number | readonly number[];
  sampling: SamplingOptions;
  stop: readonly number[];
  padTokenId: number;
  batchSize: number;
  /** Record i samples with seed + i through the scheduler; batch `step` of generate() with batchSeed(step). */
  seed: number;
  /** generate()'s seed of batch `step` (default seed + step). */
  batchSeed?: (step: number) => number;
  signal?: AbortSignal;
}

export interface PredictGeneration {
  /** Whether the scheduler decodes (the family has a paged attention path). */
  readonly scheduled: boolean;
  /** New tokens of batch `step` (records [step * batchSize, ...)); null when the signal stopped generation. */
  batch(step: number): Promise<number[][] | null>;
  close(): Promise<void>;
}

const BLOCK_SIZE = 16;

export function predictGeneration(
  model: CausalLM,
  prompts: readonly (readonly number[])[],
  o: PredictGenerationOptions,
): PredictGeneration {
  if (!model.module.pagedAttention || prompts.length === 0) return batchedGenerate(model, prompts, o);
  const limitOf = (record: number) => batchLimit(o.maxNewTokens, Math.floor(record / o.batchSize));
  // Blocks for batchSize sequences of the longest prompt + max_new_tokens: the running batch never preempts.
  const longest = maxOf(prompts.map((p, i) => p.length + limitOf(i)));
  const running = Math.min(o.batchSize, prompts.length);
  const scheduler = new Scheduler(model.module, {
    numBlocks: running * Math.ceil(longest / BLOCK_SIZE),
    blockSize: BLOCK_SIZE,
    maxRunning: running,
    maxWaiting: prompts.length,
    maxPositions: longest,
    // Throughput, not latency: a whole batch's prompts may prefill in one step.
    tokenBudget: running * longest,
    // Eval prompts rarely share whole blocks; the cache would only keep blocks busy.
    prefixCaching: false,
  });
  const wasTraining = model.module.training;
  model.module.eval();
  const signal = {
    get aborted() {
      return o.signal?.aborted === true;
    },
  };
  const results: Promise<SequenceResult>[] = prompts.map((prompt, i) =>
    scheduler.submit({
      prompt,
      maxNewTokens: limitOf(i),
      sampling: o.sampling,
      stop: o.stop,
      seed: o.seed + i,
      signal,
    }),
  );
  // A failed sequence is reported by the batch that awaits it; the others must not be unhandled meanwhile.
  for (const r of results) r.catch(() => {});
  return {
    scheduled: true,
    async batch(step) {
      const rows = await Promise.all(results.slice(step * o.batchSize, (step + 1) * o.batchSize));
      if (signal.aborted || rows.some((r) => r.finishReason === 'abort')) return null;
      return rows.map((r) => r.tokens);
    },
    async close() {
      await scheduler.close();
      model.module.train(wasTraining);
    },
  };
}

/** generate() over left-padded batches of batchSize (one seed per batch, so draws do not depend on earlier ones). */
function batchedGenerate(
  model: CausalLM,
  prompts: readonly (readonly number[])[],
  o: PredictGenerationOptions,
): PredictGeneration {
  return {
    scheduled: false,
    async batch(step) {
      const { tokens, finishReasons } = model.generateDetailed(
        prompts.slice(step * o.batchSize, (step + 1) * o.batchSize),
        {
          maxNewTokens: batchLimit(o.maxNewTokens, step),
          ...o.sampling,
          stop: o.stop,
          padTokenId: o.padTokenId,
          seed: o.batchSeed ? o.batchSeed(step) : o.seed + step,
          ...(o.signal ? { signal: o.signal } : {}),
        },
      );
      return o.signal?.aborted || finishReasons.includes('abort') ? null : tokens;
    },
    async close() {},
  };
}

function batchLimit(limits: number | readonly number[], step: number): number {
  if (typeof limits === 'number') return limits;
  const limit = limits[step];
  if (limit === undefined) throw new RangeError(`no max_new_tokens for batch ${step} (${limits.length} given)`);
  return limit;
}
