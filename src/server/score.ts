/** `POST /v1/score/evaluation` (LLaMA-Factory's): a reward model's score for each text in `messages`. */
import type { ServerContext } from './context.js';
import { ApiError, invalidRequest } from './errors.js';
import { newId } from './sse.js';
import { optionalInteger, requireObject, requireString } from './validate.js';

export async function scoreEvaluation(ctx: ServerContext, raw: unknown, signal: AbortSignal): Promise<Response> {
  const { engine } = ctx;
  if (engine.canGenerate || !engine.score) {
    throw new ApiError(
      405,
      'This server runs a generative model: scoring needs a reward model (one trained with stage rm).',
      'invalid_request_error',
      null,
      'not_allowed',
    );
  }
  const body = requireObject(raw, null);
  const model = requireString(body, 'model');
  const texts = body.messages;
  if (!Array.isArray(texts) || texts.length === 0 || !texts.every((t) => typeof t === 'string')) {
    throw invalidRequest("'messages' must be a non-empty list of strings (the texts to score).", 'messages');
  }
  const maxLength = optionalInteger(body, 'max_length', 1);
  const release = await ctx.queue.acquire(signal);
  try {
    const scores = await engine.score(texts as string[], maxLength === undefined ? {} : { maxLength }, signal);
    return Response.json({ id: newId('scoreval-'), object: 'score.evaluation', model, scores });
  } finally {
    release();
  }
}
