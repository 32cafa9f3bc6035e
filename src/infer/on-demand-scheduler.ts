/**
 * The scheduler of a single user (`lmforge chat`, the board's chat tab, `kb ask`, library use of ChatModel): the
 * same continuous-batching path as `lmforge api` (src/serve/scheduler.ts), so answers, streaming, stop strings and
 * aborts behave the same, without a KV budget to choose. Requests run one at a time, as generate() ran them; the
 * paged KV pool is allocated at the first request, sized to it, and kept (so the next turn of a conversation reuses
 * its history's cached blocks); a request that needs more grows it (at least doubling), never past what one
 * request of the whole context needs.
 */
import type { CausalLMModule } from '../models/family.js';
import { Scheduler } from '../serve/scheduler.js';

const BLOCK_SIZE = 16;

export class OnDemandScheduler {
  private scheduler: Scheduler | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly module: CausalLMModule,
    /** Prompt + new tokens at most (max_model_len): the RoPE table and the pool's ceiling per sequence. */
    private readonly maxPositions: number,
  ) {}

  /** Blocks in the pool now (0 before the first request). */
  get numBlocks(): number {
    return this.scheduler?.cache.numBlocks ?? 0;
  }

  /**
   * Runs `job` once the requests before it ended, with a scheduler that holds `sequences` sequences of `positions`
   * positions each (the n choices of one request, prompt + max new tokens).
   */
  use<T>(sequences: number, positions: number, job: (scheduler: Scheduler) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => job(await this.fit(sequences, positions)));
    this.queue = run.catch(() => {});
    return run;
  }

  private async fit(sequences: number, positions: number): Promise<Scheduler> {
    if (this.closed) throw new Error('the model was closed');
    const perSequence = Math.ceil(positions / BLOCK_SIZE);
    const need = sequences * perSequence;
    if (this.scheduler && this.scheduler.cache.numBlocks >= need) return this.scheduler;
    const ceiling = Math.max(need, sequences * Math.ceil(this.maxPositions / BLOCK_SIZE));
    const numBlocks = Math.min(ceiling, Math.max(need, 2 * this.numBlocks));
    // Nothing runs between requests: the old pool (and its cached prefixes) can go before the new one is made.
    await this.scheduler?.close();
    this.scheduler = null;
    this.scheduler = new Scheduler(this.module, { numBlocks, blockSize: BLOCK_SIZE, maxPositions: this.maxPositions });
    return this.scheduler;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    await this.scheduler?.close();
    this.scheduler = null;
  }
}
