/**
 * Admission control for generation: at most `maxConcurrent` requests run, at most `maxWaiting` wait in FIFO order,
 * and anything beyond that is refused at once (the server answers 429) instead of piling up unbounded work. A waiter
 * whose client goes away leaves the queue.
 */
import { abortError } from '../infer/chat-engine.js';

export class QueueFullError extends Error {
  constructor(
    readonly running: number,
    readonly waiting: number,
  ) {
    super(
      `The server is busy: ${running} request(s) running and ${waiting} waiting, the most it accepts. ` +
        'Retry later, or start the server with a larger --max_concurrent / --max_waiting.',
    );
    this.name = 'QueueFullError';
  }
}

/** Releases the slot; calling it more than once is harmless. */
export type ReleaseSlot = () => void;

interface Waiter {
  grant: (release: ReleaseSlot) => void;
  reject: (e: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class RequestQueue {
  private running = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly maxConcurrent: number,
    readonly maxWaiting: number,
  ) {
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new RangeError(`maxConcurrent must be an integer >= 1, got ${maxConcurrent}.`);
    }
    if (!Number.isInteger(maxWaiting) || maxWaiting < 0) {
      throw new RangeError(`maxWaiting must be an integer >= 0, got ${maxWaiting}.`);
    }
  }

  get stats(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiters.length };
  }

  /** Resolves with a release function once a slot is free; rejects with QueueFullError or an AbortError. */
  acquire(signal?: AbortSignal): Promise<ReleaseSlot> {
    if (signal?.aborted) return Promise.reject(abortError(signal.reason));
    if (this.running < this.maxConcurrent) {
      this.running++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiters.length >= this.maxWaiting) {
      return Promise.reject(new QueueFullError(this.running, this.waiters.length));
    }
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(abortError(signal?.reason));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private releaser(): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) {
        // The slot passes straight to the next waiter: `running` stays the same.
        next.signal?.removeEventListener('abort', next.onAbort);
        next.grant(this.releaser());
      } else {
        this.running--;
      }
    };
  }
}
