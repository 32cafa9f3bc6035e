/**
 * A GenerationStream over a generation that reports pieces through a callback (the worker's messages, or the
 * in-process runner's sink). Pieces queue until the consumer pulls them. Breaking out of the iteration asks the
 * generation to stop and resolves `result` with what the consumer saw (its text and token count); an abort makes
 * the iteration throw an AbortError and `result` reject with it (the GenerationStream contract).
 */
import {
  abortError,
  type GenerationResult,
  type GenerationStream,
  isAbortError,
  type StreamPiece,
} from './chat-engine.js';

export interface PieceSource {
  /** Starts the generation; `push` receives every piece; resolves with the full result. */
  start(push: (piece: StreamPiece) => void): Promise<GenerationResult>;
  /** The consumer stopped reading: end the generation early. */
  stop(): void;
  /** The signal aborted: end the generation and reject. */
  abort(): void;
}

export function pieceStream(source: PieceSource, signal?: AbortSignal): GenerationStream {
  const queue: StreamPiece[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  let failure: unknown = null;
  let brokeOff = false;
  let seenText = '';
  let seenTokens = 0;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const onAbort = () => {
    failure = abortError(signal?.reason);
    source.abort();
    notify();
  };
  let full: Promise<GenerationResult>;
  if (signal?.aborted) {
    failure = abortError(signal.reason);
    full = Promise.reject(failure);
  } else {
    signal?.addEventListener('abort', onAbort, { once: true });
    full = source
      .start((piece) => {
        queue.push(piece);
        notify();
      })
      .then(
        (r) => {
          ended = true;
          notify();
          return r;
        },
        (e: unknown) => {
          failure ??= e;
          ended = true;
          notify();
          throw failure;
        },
      )
      .finally(() => signal?.removeEventListener('abort', onAbort));
  }
  const result = full.then((r) => {
    if (failure !== null && isAbortError(failure)) throw failure;
    return brokeOff ? { ...r, text: seenText, finishReason: 'stop' as const, completionTokens: seenTokens } : r;
  });
  result.catch(() => undefined); // a caller that only iterates must not see an unhandled rejection

  return {
    result,
    [Symbol.asyncIterator](): AsyncIterator<StreamPiece> {
      return {
        async next(): Promise<IteratorResult<StreamPiece>> {
          for (;;) {
            if (failure !== null) throw failure;
            const piece = queue.shift();
            if (piece) {
              seenText += piece.text;
              if (piece.tokenId !== undefined) seenTokens++;
              return { value: piece, done: false };
            }
            if (ended) return { value: undefined, done: true };
            await new Promise<void>((r) => {
              wake = r;
            });
          }
        },
        async return(): Promise<IteratorResult<StreamPiece>> {
          // Pieces left unread (the generation may have finished already): the result is what was read.
          if (failure === null && (!ended || queue.length > 0)) {
            brokeOff = true;
            if (!ended) source.stop();
          }
          return { value: undefined, done: true };
        },
      };
    },
  };
}
