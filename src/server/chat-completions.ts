/** `POST /v1/chat/completions`: one response object, or `chat.completion.chunk` events when `stream` is true. */
import type { FinishReason, GenerationResult, ToolCall } from '../infer/chat-engine.js';
import { StopStringFilter, truncateAtStop } from '../infer/stop-strings.js';
import { type ChatRequest, parseChatRequest } from './chat-request.js';
import { requireGenerator, type ServerContext } from './context.js';
import { newId, sseResponse, unixSeconds } from './sse.js';

interface ChoiceMessage {
  role: 'assistant';
  content: string | null;
  tool_calls?: { id: string; type: 'function'; function: ToolCall }[];
}

export async function chatCompletions(ctx: ServerContext, body: unknown, signal: AbortSignal): Promise<Response> {
  requireGenerator(ctx.engine);
  const req = parseChatRequest(body);
  const release = await ctx.queue.acquire(signal);
  if (req.stream) return streamChat(ctx, req, signal, release);
  try {
    const results = await ctx.engine.chat(req.messages, req.options, signal);
    return Response.json(chatResponse(ctx, req, results));
  } finally {
    release();
  }
}

function chatResponse(ctx: ServerContext, req: ChatRequest, results: GenerationResult[]) {
  const choices = results.map((r, index) => {
    // The engine should honour stop strings itself; cutting again guarantees it.
    const cut = truncateAtStop(r.text, req.options.stop);
    let finish: FinishReason = cut.stopped ? 'stop' : r.finishReason;
    let message: ChoiceMessage = { role: 'assistant', content: cut.text };
    const calls = req.options.tools ? ctx.engine.extractToolCalls(cut.text, req.options.tools) : null;
    if (calls && calls.length > 0) {
      message = {
        role: 'assistant',
        content: null,
        tool_calls: calls.map((c) => ({ id: newId('call_'), type: 'function', function: c })),
      };
      finish = 'tool_calls';
    }
    return { index, message, finish_reason: finish, logprobs: null };
  });
  const promptTokens = results[0]?.promptTokens ?? 0;
  const completionTokens = results.reduce((s, r) => s + r.completionTokens, 0);
  return {
    id: newId('chatcmpl-'),
    object: 'chat.completion',
    created: unixSeconds(),
    model: req.model,
    choices,
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    },
  };
}

function streamChat(ctx: ServerContext, req: ChatRequest, signal: AbortSignal, release: () => void): Response {
  const abort = new AbortController();
  const onClientGone = () => abort.abort(signal.reason);
  signal.addEventListener('abort', onClientGone, { once: true });
  const generation = ctx.engine.streamChat(req.messages, req.options, abort.signal);
  generation.result.catch(() => undefined); // awaited below unless the client left; never an unhandled rejection
  const id = newId('chatcmpl-');
  const created = unixSeconds();
  const chunk = (delta: Record<string, unknown>, finish: FinishReason | null) =>
    JSON.stringify({
      id,
      object: 'chat.completion.chunk',
      created,
      model: req.model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    });

  async function* events(): AsyncGenerator<string, void> {
    try {
      yield chunk({ role: 'assistant', content: '' }, null);
      const filter = new StopStringFilter(req.options.stop);
      let stopped = false;
      for await (const piece of generation) {
        const check = filter.push(piece.text);
        if (check.text) yield chunk({ content: check.text }, null);
        if ((stopped = check.stopped)) break; // ends the generation; its result still counts the tokens
      }
      const tail = filter.flush();
      if (tail) yield chunk({ content: tail }, null);
      const result = await generation.result;
      yield chunk({}, stopped ? 'stop' : result.finishReason);
      if (req.includeUsage) {
        const usage = {
          prompt_tokens: result.promptTokens,
          completion_tokens: result.completionTokens,
          total_tokens: result.promptTokens + result.completionTokens,
        };
        yield JSON.stringify({ id, object: 'chat.completion.chunk', created, model: req.model, choices: [], usage });
      }
      yield '[DONE]';
    } finally {
      signal.removeEventListener('abort', onClientGone);
      release();
    }
  }
  return sseResponse(events(), () => abort.abort('The client closed the stream.'));
}
