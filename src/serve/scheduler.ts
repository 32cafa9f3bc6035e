/**
 * Iteration-level continuous batching over the paged KV cache (vLLM's scheduler, simplified). Every step is one
 * forward over one row of N tokens drawn from every running sequence:
 *   - decoding sequences feed their last token (1 each), first, so decode never waits for a long prompt;
 *   - prefilling sequences feed the next chunk of their prompt from what is left of `tokenBudget` (chunked prefill);
 *   - waiting requests join (FIFO) when a running slot and enough blocks are free: at the next step;
 *   - sequences that finish (stop id, max tokens, onToken said stop) or were aborted leave and free their blocks.
 * Prefill and decode are one mechanism: a sequence holds `history` (prompt + generated) and `computed` (positions
 * whose keys are cached); it feeds history[computed..] and, when that reaches the end, its last position's logits
 * pick the next token, with the request's own sampling options, stop ids and seed. When decoding needs a block and
 * none is free, the most recently admitted sequence is preempted: its blocks are freed and it waits again at the
 * front of the queue, to recompute its history later (vLLM's recompute preemption). Full blocks are registered in
 * the prefix cache (block-pool.ts), so a request whose prompt starts like an earlier one's skips those positions.
 */
import { native, noGrad, type RopeFrequencies, scope, Tensor } from '../engine/index.js';
import { appendToken, pickTokens } from '../infer/decode-step.js';
import { DrawSource } from '../infer/generate.js';
import { type SamplingOptions, validateSampling } from '../infer/sampling.js';
import type { CausalLMModule } from '../models/family.js';
import { type BlockHash, chainHash } from './block-pool.js';
import { PagedKVCache, type StepSequence } from './paged-kv-cache.js';

export type SequenceFinish = 'stop' | 'length' | 'abort';

export interface SequenceRequest {
  /** Prompt token ids (at least one). */
  prompt: readonly number[];
  maxNewTokens: number;
  sampling: SamplingOptions;
  /** Ids that end the sequence (included in its tokens, as HF's generate). */
  stop?: readonly number[];
  seed?: number;
  /**
   * Rewrites the next-token logits [V] (a copy) in place before sampling: the request's penalties and grammar mask
   * (infer/logit-processors.ts), as generate()'s processLogits. onToken then sees the token chosen from them.
   */
  processLogits?: (logits: Float32Array) => void;
  /** Every new token as it is chosen; return false to end the sequence (a stop string was found). */
  onToken?: (token: number) => unknown;
  /** Read before every step: the client went away. */
  signal?: { readonly aborted: boolean };
}

export interface SequenceResult {
  tokens: number[];
  finishReason: SequenceFinish;
  /** Prompt positions taken from the prefix cache instead of computed. */
  cachedTokens: number;
}

export interface SchedulerOptions {
  /** Positions per KV block (default 16). */
  blockSize?: number;
  /** Blocks in the pool (the KV memory budget, see kvBudgetBlocks). */
  numBlocks: number;
  /** Sequences in one step at most (default 64). */
  maxRunning?: number;
  /** Requests that may wait for admission; submit() beyond that throws SchedulerFullError (default 256). */
  maxWaiting?: number;
  /** Tokens per step at most, decode tokens included (default 256). */
  tokenBudget?: number;
  /** Share and keep full prompt blocks (default true). */
  prefixCaching?: boolean;
  /** Largest position the model is asked for (RoPE table size); default the pool's capacity. */
  maxPositions?: number;
}

/** The waiting queue is full: an HTTP server answers 429. */
export class SchedulerFullError extends Error {
  readonly userFacing = true;
  constructor(
    readonly running: number,
    readonly waiting: number,
  ) {
    super(
      `The server is busy: ${running} sequence(s) running and ${waiting} waiting, the most it accepts. Retry later, or raise --max_waiting.`,
    );
    this.name = 'QueueFullError';
  }
}

/** A request that can never fit the KV budget, however empty the pool. */
export class KVBudgetError extends Error {
  readonly userFacing = true;
  override name = 'KVBudgetError';
}

class Sequence {
  readonly history: number[];
  readonly tokens: number[] = [];
  blocks: number[] = [];
  /** Chained keys of the history's full blocks so far (hashes[i] covers blocks 0..i). */
  readonly hashes: BlockHash[] = [];
  computed = 0;
  cachedTokens = 0;
  readonly stop: Set<number>;
  readonly draws: DrawSource;
  finished: SequenceFinish | null = null;

  constructor(
    readonly req: SequenceRequest,
    readonly resolve: (r: SequenceResult) => void,
    readonly reject: (e: Error) => void,
  ) {
    this.history = [...req.prompt];
    this.stop = new Set(req.stop ?? []);
    this.draws = new DrawSource(req.seed ?? 0);
  }
}

export class Scheduler {
  readonly cache: PagedKVCache;
  readonly blockSize: number;
  readonly maxRunning: number;
  readonly maxWaiting: number;
  readonly tokenBudget: number;
  private readonly waiting: Sequence[] = [];
  private readonly running: Sequence[] = [];
  private readonly rope: RopeFrequencies;
  private loop: Promise<void> | null = null;
  private closed = false;
  /** Steps run and tokens fed, for tests and the bench. */
  readonly counters = { steps: 0, tokensFed: 0, preemptions: 0, maxBatch: 0 };

  constructor(
    readonly model: CausalLMModule,
    options: SchedulerOptions,
  ) {
    this.blockSize = options.blockSize ?? 16;
    this.maxRunning = options.maxRunning ?? 64;
    this.maxWaiting = options.maxWaiting ?? 256;
    this.tokenBudget = options.tokenBudget ?? 256;
    for (const [name, v, min] of [
      ['maxRunning', this.maxRunning, 1],
      ['maxWaiting', this.maxWaiting, 0],
      ['tokenBudget', this.tokenBudget, 1],
    ] as const)
      if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
    const cfg = model.cfg;
    // A layer that ignores ctx.paged would attend to nothing cached: refuse rather than answer garbage.
    if (!model.pagedAttention)
      throw new TypeError(
        `${cfg.architecture} has no paged attention path; generate with generate() (ChatRunner falls back to it)`,
      );
    this.cache = new PagedKVCache(
      { numLayers: cfg.numHiddenLayers, numKvHeads: cfg.numKeyValueHeads, headDim: cfg.headDim },
      options.numBlocks,
      this.blockSize,
      options.prefixCaching ?? true,
    );
    this.rope = model.model.ropeFrequencies(options.maxPositions ?? options.numBlocks * this.blockSize);
  }

  get stats(): { running: number; waiting: number } {
    return { running: this.running.length, waiting: this.waiting.length };
  }

  /** Resolves when the sequence ends (an abort resolves with finishReason 'abort'). */
  submit(req: SequenceRequest): Promise<SequenceResult> {
    if (this.closed) return Promise.reject(new Error('the scheduler was closed'));
    validateSampling(req.sampling);
    const cfg = this.model.cfg;
    if (req.prompt.length === 0)
      return Promise.reject(new KVBudgetError('the prompt is empty: give at least one token'));
    for (const id of req.prompt)
      if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize)
        return Promise.reject(new KVBudgetError(`token id ${id} is outside the vocabulary [0, ${cfg.vocabSize})`));
    if (!Number.isInteger(req.maxNewTokens) || req.maxNewTokens < 0)
      return Promise.reject(new RangeError(`maxNewTokens must be an integer >= 0, got ${req.maxNewTokens}`));
    const need = Math.ceil((req.prompt.length + req.maxNewTokens) / this.blockSize);
    if (need > this.cache.numBlocks)
      return Promise.reject(
        new KVBudgetError(
          `prompt (${req.prompt.length} tokens) + max tokens (${req.maxNewTokens}) need ${need} KV blocks of ${this.blockSize} positions, but the KV budget holds ${this.cache.numBlocks}; raise API_KV_BUDGET / --kv_budget or ask for fewer tokens`,
        ),
      );
    if (this.waiting.length >= this.maxWaiting)
      return Promise.reject(new SchedulerFullError(this.running.length, this.waiting.length));
    if (req.maxNewTokens === 0) return Promise.resolve({ tokens: [], finishReason: 'length', cachedTokens: 0 });
    return new Promise((resolve, reject) => {
      this.waiting.push(new Sequence(req, resolve, reject));
      this.kick();
    });
  }

  /** Runs steps until no sequence is left, yielding to the event loop between steps (new requests join). */
  private kick(): void {
    if (this.loop) return;
    // The first step waits a turn of the event loop: requests submitted together start in one step, and the loop
    // is registered before any step can end it.
    this.loop = (async () => {
      try {
        do await new Promise((r) => setImmediate(r));
        while (!this.closed && this.step());
      } catch (e) {
        // A bug in scheduling itself: fail every request rather than leave them waiting forever.
        for (const seq of [...this.running, ...this.waiting]) this.finish(seq, null, e as Error);
      } finally {
        this.loop = null;
      }
    })();
  }

  /** Waits for the running loop to go idle (tests). */
  async idle(): Promise<void> {
    while (this.loop) await this.loop;
  }

  /** One scheduling iteration and forward; returns whether any sequence is left. */
  step(): boolean {
    this.dropAborted();
    this.admit();
    const batch = this.plan();
    if (batch.length > 0) {
      try {
        this.forward(batch);
      } catch (e) {
        // A failing forward fails the sequences in it (their requests error) instead of wedging the loop.
        for (const { seq } of batch) this.finish(seq, null, e as Error);
      }
    }
    return this.running.length > 0 || this.waiting.length > 0;
  }

  private dropAborted(): void {
    for (const list of [this.running, this.waiting])
      for (const seq of [...list]) if (seq.req.signal?.aborted) this.finish(seq, 'abort');
  }

  /** Waiting sequences join while a running slot is free and the pool can hold their uncached prompt. */
  private admit(): void {
    const pool = this.cache.pool;
    while (this.waiting.length > 0 && this.running.length < this.maxRunning) {
      const seq = this.waiting[0] as Sequence;
      // The longest cached prefix of whole blocks, never the history's last position (its logits are needed).
      const hits: number[] = [];
      const fullBlocks = Math.floor((seq.history.length - 1) / this.blockSize);
      let parent: BlockHash | null = null;
      const hashes: BlockHash[] = [];
      for (let b = 0; b < fullBlocks; b++) {
        const h = chainHash(parent, seq.history.slice(b * this.blockSize, (b + 1) * this.blockSize));
        if (!pool.has(h)) break;
        hashes.push(h);
        parent = h;
      }
      const needed = Math.ceil(seq.history.length / this.blockSize) - hashes.length + 1;
      if (pool.available - hashes.length < needed && this.running.length > 0) return; // wait for blocks to free
      for (const h of hashes) hits.push(pool.lookup(h) as number);
      this.waiting.shift();
      seq.blocks = hits;
      seq.hashes.length = 0;
      seq.hashes.push(...hashes);
      seq.computed = hits.length * this.blockSize;
      seq.cachedTokens += seq.computed;
      this.running.push(seq);
    }
  }

  /** Which sequences feed how many tokens this step, with the blocks they need allocated. */
  private plan(): { seq: Sequence; count: number }[] {
    let budget = this.tokenBudget;
    const batch: { seq: Sequence; count: number }[] = [];
    // Decoding sequences (one token left to feed) first, then prefills in admission order.
    const order = [...this.running].sort(
      (a, b) => Number(a.history.length - a.computed > 1) - Number(b.history.length - b.computed > 1),
    );
    for (const seq of order) {
      if (budget === 0) break;
      if (!this.running.includes(seq)) continue; // preempted below
      const count = Math.min(seq.history.length - seq.computed, budget);
      if (!this.reserve(seq, seq.computed + count)) continue;
      batch.push({ seq, count });
      budget -= count;
    }
    return batch.filter(({ seq }) => this.running.includes(seq));
  }

  /** Blocks for positions [0, end) of seq, preempting later sequences when the pool is empty. */
  private reserve(seq: Sequence, end: number): boolean {
    const pool = this.cache.pool;
    while (seq.blocks.length * this.blockSize < end) {
      const b = pool.allocate();
      if (b !== null) {
        seq.blocks.push(b);
        continue;
      }
      const victim = this.running.at(-1) as Sequence;
      this.preempt(victim);
      if (victim === seq) return false;
    }
    return true;
  }

  private preempt(seq: Sequence): void {
    this.counters.preemptions++;
    for (const b of seq.blocks) this.cache.pool.release(b);
    seq.blocks = [];
    seq.hashes.length = 0;
    seq.computed = 0;
    this.running.splice(this.running.indexOf(seq), 1);
    this.waiting.unshift(seq);
  }

  private forward(batch: readonly { seq: Sequence; count: number }[]): void {
    const n = batch.reduce((s, e) => s + e.count, 0);
    const ids = new Int32Array(n);
    const pos = new Int32Array(n);
    const steps: StepSequence[] = [];
    const lastRows: number[] = [];
    const sampled: Sequence[] = [];
    let i = 0;
    for (const { seq, count } of batch) {
      steps.push({ blocks: seq.blocks, start: seq.computed, count });
      for (let p = seq.computed; p < seq.computed + count; p++, i++) {
        ids[i] = seq.history[p] as number;
        pos[i] = p;
      }
      if (seq.computed + count === seq.history.length) {
        lastRows.push(i - 1);
        sampled.push(seq);
      }
    }
    this.counters.steps++;
    this.counters.tokensFed += n;
    this.counters.maxBatch = Math.max(this.counters.maxBatch, batch.length);
    const c = this.model.cfg.hiddenSize;
    const logits = noGrad(() =>
      scope(() => {
        const step = this.cache.step(steps);
        try {
          const hidden = this.model.model.forward(Tensor.from(ids, [1, n], 'i32'), {
            positionIds: Tensor.from(pos, [1, n], 'i32'),
            rope: this.rope,
            paged: step,
          });
          if (sampled.length === 0) return null;
          const last = Tensor.empty([sampled.length, c]);
          lastRows.forEach((row, r) => {
            native.copy(hidden.handle, row * c * 4, last.handle, r * c * 4, c * 4);
          });
          return this.model.head(last).toFloat32Array();
        } finally {
          step.dispose();
        }
      }),
    );
    for (const { seq, count } of batch) {
      seq.computed += count;
      this.registerFullBlocks(seq);
    }
    if (!logits) return;
    const v = this.model.cfg.vocabSize;
    sampled.forEach((seq, r) => {
      const draw = seq.draws.next();
      // A failing processor, sampler or onToken fails this sequence only.
      try {
        const scores = Tensor.from(logits.subarray(r * v, (r + 1) * v), [1, v]);
        const [id] = pickTokens(scores, [seq.history], Float32Array.of(draw), seq.req.sampling, seq.req.processLogits);
        const end = appendToken(seq, id as number, seq.stop, seq.req.maxNewTokens, seq.req.onToken);
        if (end) this.finish(seq, end);
      } catch (e) {
        this.finish(seq, null, e as Error);
      }
    });
  }

  /** Registers the blocks that the last step filled completely, under their chained prefix keys. */
  private registerFullBlocks(seq: Sequence): void {
    const bs = this.blockSize;
    while ((seq.hashes.length + 1) * bs <= seq.computed) {
      const b = seq.hashes.length;
      const h = chainHash(seq.hashes[b - 1] ?? null, seq.history.slice(b * bs, (b + 1) * bs));
      seq.hashes.push(h);
      this.cache.pool.register(seq.blocks[b] as number, h);
    }
  }

  private finish(seq: Sequence, reason: SequenceFinish | null, error?: Error): void {
    if (seq.finished) return;
    seq.finished = reason ?? 'abort';
    for (const list of [this.running, this.waiting]) {
      const at = list.indexOf(seq);
      if (at >= 0) list.splice(at, 1);
    }
    for (const b of seq.blocks) this.cache.pool.release(b);
    seq.blocks = [];
    if (error) seq.reject(error);
    else seq.resolve({ tokens: seq.tokens, finishReason: reason ?? 'abort', cachedTokens: seq.cachedTokens });
  }

  /** Ends every sequence (aborted) and frees the pools. */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
    for (const seq of [...this.running, ...this.waiting]) this.finish(seq, 'abort');
    this.cache.dispose();
  }
}

/** Blocks a KV budget of `bytes` buys for this model (at least 1). */
export function kvBudgetBlocks(
  cfg: { numHiddenLayers: number; numKeyValueHeads: number; headDim: number },
  bytes: number,
  blockSize = 16,
): number {
  const per = 2 * cfg.numHiddenLayers * blockSize * cfg.numKeyValueHeads * cfg.headDim * 4;
  return Math.max(1, Math.floor(bytes / per));
}
