/** `POST /v1/chat/completions`: one response object, or `chat.completion.chunk` events when `stream` is true. */
import type { FinishReason, GenerationResult, ToolCall } from '../infer/chat-engine.js';
import { truncateAtStop } from '../infer/stop-strings.js';
import { type ChatRequest, parseChatRequest } from './chat-request.js';
import { requireGenerator, type ServerContext } from './context.js';
import { chatLogprobs } from './logprobs-format.js';
import type { ReleaseSlot } from './request-queue.js';
import { newId, unixSeconds } from './sse.js';
import { streamGeneration } from './stream-generation.js';
import { tokenUsage } from './usage.js';

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
  const wantLogprobs = req.options.logprobs !== undefined;
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
    return { index, message, finish_reason: finish, logprobs: chatLogprobs(wantLogprobs, r.logprobs) };
  });
  const promptTokens = results[0]?.promptTokens ?? 0;
  const completionTokens = results.reduce((s, r) => s + r.completionTokens, 0);
  return {
    id: newId('chatcmpl-'),
    object: 'chat.completion',
    created: unixSeconds(),
    model: req.model,
    choices,
    usage: tokenUsage(promptTokens, completionTokens),
  };
}

function streamChat(
  ctx: ServerContext,
  req: ChatRequest,
  signal: AbortSignal,
  release: ReleaseSlot,
): Promise<Response> {
  const id = newId('chatcmpl-');
  const created = unixSeconds();
  const chunk = (choices: unknown[], usage?: unknown) =>
    JSON.stringify({
      id,
      object: 'chat.completion.chunk',
      created,
      model: req.model,
      choices,
      ...(usage ? { usage } : {}),
    });
  const wantLogprobs = req.options.logprobs !== undefined;
  const choice = (delta: Record<string, unknown>, finish: FinishReason | null, logprobs: unknown = null) => [
    { index: 0, delta, finish_reason: finish, logprobs },
  ];
  return streamGeneration(
    (abort) => ctx.engine.streamChat(req.messages, req.options, abort),
    req.options.stop,
    {
      opening: () => [chunk(choice({ role: 'assistant', content: '' }, null))],
      content: (text, logprobs) => chunk(choice({ content: text }, null, chatLogprobs(wantLogprobs, logprobs))),
      closing: (finish, result) => {
        const events = [chunk(choice({}, finish))];
        if (req.includeUsage) {
          events.push(chunk([], tokenUsage(result.promptTokens, result.completionTokens)));
        }
        return events;
      },
    },
    signal,
    release,
  );
}
