/**
 * Server-sent events for streamed completions: each value becomes `data: <value>\n\n`. The body pulls one event at
 * a time (a slow client slows generation instead of buffering it), and a client that goes away cancels the body,
 * which calls `onCancel` (it aborts the generation) and closes the event source.
 */
import { randomBytes } from 'node:crypto';

export function sseResponse(events: AsyncGenerator<string, void>, onCancel: () => void): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await events.next();
        if (next.done) controller.close();
        else controller.enqueue(encoder.encode(`data: ${next.value}\n\n`));
      } catch (e) {
        controller.error(e);
      }
    },
    async cancel() {
      onCancel();
      await events.return(undefined);
    },
  });
  return new Response(body, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    },
  });
}

/** `prefix` + 32 hex digits, as OpenAI's ids look (`chatcmpl-...`, `call_...`). */
export function newId(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

export function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
