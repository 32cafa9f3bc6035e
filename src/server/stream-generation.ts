/**
 * One streamed generation as an SSE response, shared by chat and text completions: pieces pass through the stop
 * filter, the finish event carries the finish reason, and the queue slot is released exactly once however the
 * stream ends (finished, failed, or the client left — even before the body was first read).
 *
 * The response starts only once the first piece (or the end) arrives: a prompt the engine refuses (too long for the
 * context) is then an HTTP error status, as OpenAI's is, not an error event after a 200; and a client that leaves
 * during the prefill aborts it, since the request's signal is watched from the start.
 */
import type {
  FinishReason,
  GenerationResult,
  GenerationStream,
  StreamPiece,
  TokenLogprob,
} from '../infer/chat-engine.js';
import { StopStringFilter } from '../infer/stop-strings.js';
import type { ReleaseSlot } from './request-queue.js';
import { sseResponse } from './sse.js';

export interface StreamFormat {
  /** Events sent before the first piece (the chat role chunk). */
  opening: () => string[];
  /** A piece of text and the logprobs of the tokens that wrote it (empty unless the request asked for them). */
  content: (text: string, logprobs: TokenLogprob[]) => string;
  /** Events after the last piece, up to but not including `[DONE]`. */
  closing: (finish: FinishReason, result: GenerationResult) => string[];
}

export async function streamGeneration(
  start: (signal: AbortSignal) => GenerationStream,
  stop: readonly string[] | undefined,
  format: StreamFormat,
  clientSignal: AbortSignal,
  release: ReleaseSlot,
): Promise<Response> {
  const abort = new AbortController();
  let cleaned = false;
  const cleanup = (reason?: unknown) => {
    if (!abort.signal.aborted && reason !== undefined) abort.abort(reason);
    if (cleaned) return;
    cleaned = true;
    clientSignal.removeEventListener('abort', onClientGone);
    release();
  };
  const onClientGone = () => cleanup(clientSignal.reason ?? 'The client disconnected.');
  clientSignal.addEventListener('abort', onClientGone, { once: true });
  if (clientSignal.aborted) onClientGone();
  const generation = start(abort.signal);
  generation.result.catch(() => undefined); // awaited below unless the stream ends first: never unhandled
  const pieces = generation[Symbol.asyncIterator]();
  let first: IteratorResult<StreamPiece>;
  try {
    first = await pieces.next();
  } catch (e) {
    cleanup();
    throw e;
  }

  async function* events(): AsyncGenerator<string, void> {
    try {
      yield* format.opening();
      const filter = new StopStringFilter(stop);
      let stopped = false;
      // Logprobs of tokens whose text the filter still holds travel with the text once it is released.
      let pending: TokenLogprob[] = [];
      for (let next = first; !next.done; next = await pieces.next()) {
        if (next.value.logprob) pending.push(next.value.logprob);
        const check = filter.push(next.value.text);
        if (check.text) {
          yield format.content(check.text, pending);
          pending = [];
        }
        if ((stopped = check.stopped)) {
          await pieces.return?.(); // ends the generation; its result still counts the tokens
          break;
        }
      }
      const tail = filter.flush();
      if (tail) yield format.content(tail, pending);
      const result = await generation.result;
      yield* format.closing(stopped ? 'stop' : result.finishReason, result);
      yield '[DONE]';
    } catch (e) {
      if (abort.signal.aborted) return; // the client is gone: nobody to tell
      // Headers are sent: the error travels as an event, which the official clients raise as an APIError.
      console.error('lmforge api: generation failed:', e);
      yield JSON.stringify({
        error: {
          message: `Generation failed: ${(e as Error)?.message ?? String(e)}`,
          type: 'server_error',
          param: null,
          code: null,
        },
      });
    } finally {
      cleanup();
    }
  }
  return sseResponse(events(), () => cleanup('The client closed the stream.'));
}
