/** `POST /v1/completions`: raw text continuation (no chat template), one or more prompts, optional streaming. */
import type { GenerationOptions, GenerationResult } from '../infer/chat-engine.js';
import { truncateAtStop } from '../infer/stop-strings.js';
import { MAX_CHOICES } from './chat-request.js';
import { requireGenerator, type ServerContext } from './context.js';
import { invalidRequest } from './errors.js';
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
} from './validate.js';

interface CompletionRequest {
  model: string;
  prompts: string[];
  stream: boolean;
  options: GenerationOptions;
}

function parseCompletionRequest(raw: unknown): CompletionRequest {
  const body = requireObject(raw, null);
  const model = requireString(body, 'model');
  refuseUnsupported(body, ['echo', 'suffix', 'logprobs', 'best_of', 'logit_bias']);
  const prompts = requireTexts(body, 'prompt', 'the texts to continue');
  const stream = optionalBoolean(body, 'stream') ?? false;
  const n = optionalInteger(body, 'n', 1, MAX_CHOICES) ?? 1;
  if (stream && (n > 1 || prompts.length > 1)) {
    throw invalidRequest('Cannot stream multiple responses: send one prompt with n = 1 to stream.', 'n');
  }
  return { model, prompts, stream, options: generationOptions(body, n, ['max_tokens']) };
}

export async function completions(ctx: ServerContext, body: unknown, signal: AbortSignal): Promise<Response> {
  requireGenerator(ctx.engine);
  const req = parseCompletionRequest(body);
  const release = await ctx.queue.acquire(signal);
  if (req.stream) return streamCompletion(ctx, req, signal, release);
  try {
    const choices: { index: number; text: string; finish_reason: string; logprobs: null }[] = [];
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
          logprobs: null,
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
  const chunk = (text: string, finish: string | null) =>
    JSON.stringify({
      id,
      object: 'text_completion',
      created,
      model: req.model,
      choices: [{ index: 0, text, finish_reason: finish, logprobs: null }],
    });
  return streamGeneration(
    (abort) => ctx.engine.streamComplete(req.prompts[0]!, req.options, abort),
    req.options.stop,
    { opening: () => [], content: (text) => chunk(text, null), closing: (finish) => [chunk('', finish)] },
    signal,
    release,
  );
}
