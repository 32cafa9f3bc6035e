/** `POST /v1/score/evaluation` (LLaMA-Factory's): a reward model's score for each text in `messages`. */
import type { ServerContext } from './context.js';
import { notAllowed } from './errors.js';
import { newId } from './sse.js';
import { optionalInteger, requireObject, requireString, requireTexts } from './validate.js';

export async function scoreEvaluation(ctx: ServerContext, raw: unknown, signal: AbortSignal): Promise<Response> {
  const { engine } = ctx;
  if (engine.canGenerate || !engine.score) {
    throw notAllowed('This server runs a generative model: scoring needs a reward model (one trained with stage rm).');
  }
  const body = requireObject(raw, null);
  const model = requireString(body, 'model');
  const texts = requireTexts(body, 'messages', 'the texts to score', true);
  const maxLength = optionalInteger(body, 'max_length', 1);
  const release = await ctx.queue.acquire(signal);
  try {
    const scores = await engine.score(texts, maxLength === undefined ? {} : { maxLength }, signal);
    return Response.json({ id: newId('scoreval-'), object: 'score.evaluation', model, scores });
  } finally {
    release();
  }
}
