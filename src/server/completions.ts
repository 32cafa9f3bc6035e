/** `POST /v1/completions`: raw text continuation (no chat template), one or more prompts, optional streaming. */
import type { GenerationOptions, GenerationResult } from '../infer/chat-engine.js';
import { truncateAtStop } from '../infer/stop-strings.js';
import { MAX_CHOICES } from './chat-request.js';
import { requireGenerator, type ServerContext } from './context.js';
import { invalidRequest } from './errors.js';
import { type CompletionLogprobs, completionLogprobs } from './logprobs-format.js';
import type { ReleaseSlot } from './request-queue.js';
import { newId, unixSeconds } from './sse.js';
import { streamGeneration } from './stream-generation.js';
import { tokenUsage } from './usage.js';
import {
  generationOptions,
  optionalBoolean,
  optionalInteger,
  refuseUnsupported,
  requireObject,
  requireString,
  requireTexts,
  streamIncludeUsage,
} from './validate.js';

/** OpenAI's limit on a completion's logprobs. */
const MAX_COMPLETION_LOGPROBS = 5;

interface CompletionRequest {
  model: string;
  prompts: string[];
  stream: boolean;
  includeUsage: boolean;
  options: GenerationOptions;
}

function parseCompletionRequest(raw: unknown): CompletionRequest {
  const body = requireObject(raw, null);
  const model = requireString(body, 'model');
  refuseUnsupported(body, ['echo', 'suffix', 'best_of', 'logit_bias']);
  const prompts = requireTexts(body, 'prompt', 'the texts to continue');
  const stream = optionalBoolean(body, 'stream') ?? false;
  const n = optionalInteger(body, 'n', 1, MAX_CHOICES) ?? 1;
  if (stream && (n > 1 || prompts.length > 1)) {
    throw invalidRequest('Cannot stream multiple responses: send one prompt with n = 1 to stream.', 'n');
  }
  const options = generationOptions(body, n, ['max_tokens']);
  // Legacy completions: logprobs is the number of alternatives (0..5), each token's own logprob always included.
  const logprobs = optionalInteger(body, 'logprobs', 0, MAX_COMPLETION_LOGPROBS);
  if (logprobs !== undefined) options.logprobs = logprobs;
  return { model, prompts, stream, includeUsage: streamIncludeUsage(body), options };
}

export async function completions(ctx: ServerContext, body: unknown, signal: AbortSignal): Promise<Response> {
  requireGenerator(ctx.engine);
  const req = parseCompletionRequest(body);
  const release = await ctx.queue.acquire(signal);
  if (req.stream) return streamCompletion(ctx, req, signal, release);
  try {
    const choices: { index: number; text: string; finish_reason: string; logprobs: CompletionLogprobs | null }[] = [];
    const wantLogprobs = req.options.logprobs !== undefined;
    let promptTokens = 0;
    let completionTokens = 0;
    for (const prompt of req.prompts) {
      const results: GenerationResult[] = await ctx.engine.complete(prompt, req.options, signal);
      promptTokens += results[0]?.promptTokens ?? 0;
      for (const r of results) {
        const cut = truncateAtStop(r.text, req.options.stop);
        choices.push({
          index: choices.length,
          text: cut.text,
          finish_reason: cut.stopped ? 'stop' : r.finishReason,
          logprobs: completionLogprobs(wantLogprobs, r.logprobs),
        });
        completionTokens += r.completionTokens;
      }
    }
    return Response.json({
      id: newId('cmpl-'),
      object: 'text_completion',
      created: unixSeconds(),
      model: req.model,
      choices,
      usage: tokenUsage(promptTokens, completionTokens),
    });
  } finally {
    release();
  }
}

function streamCompletion(
  ctx: ServerContext,
  req: CompletionRequest,
  signal: AbortSignal,
  release: ReleaseSlot,
): Promise<Response> {
  const id = newId('cmpl-');
  const created = unixSeconds();
  const wantLogprobs = req.options.logprobs !== undefined;
  let offset = 0;
  const event = (choices: unknown[], usage?: unknown) =>
    JSON.stringify({ id, object: 'text_completion', created, model: req.model, choices, ...(usage ? { usage } : {}) });
  const chunk = (text: string, finish: string | null, logprobs: CompletionLogprobs | null = null) =>
    event([{ index: 0, text, finish_reason: finish, logprobs }]);
  return streamGeneration(
    (abort) => ctx.engine.streamComplete(req.prompts[0]!, req.options, abort),
    req.options.stop,
    {
      opening: () => [],
      content: (text, entries) => {
        const logprobs = completionLogprobs(wantLogprobs, entries, offset);
        offset += text.length;
        return chunk(text, null, logprobs);
      },
      closing: (finish, result) => {
        const events = [chunk('', finish)];
        if (req.includeUsage) events.push(event([], tokenUsage(result.promptTokens, result.completionTokens)));
        return events;
      },
    },
    signal,
    release,
  );
}
