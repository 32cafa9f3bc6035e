/**
 * `POST /v1/embeddings`: one vector per input, the model's last hidden state (after the final norm) mean-pooled
 * over the input's tokens. `encoding_format: "base64"` (what the official clients ask for by default) sends the
 * float32 little-endian bytes in base64.
 */
import type { ServerContext } from './context.js';
import { tokenUsage } from './usage.js';
import { fieldError, refuseUnsupported, requireObject, requireString, requireTexts } from './validate.js';

export async function embeddings(ctx: ServerContext, raw: unknown, signal: AbortSignal): Promise<Response> {
  const body = requireObject(raw, null);
  const model = requireString(body, 'model');
  refuseUnsupported(body, ['dimensions']);
  const input = requireTexts(body, 'input', 'the texts to embed');
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') throw fieldError('encoding_format', "'float' or 'base64'", format);
  const release = await ctx.queue.acquire(signal);
  try {
    const { vectors, promptTokens } = await ctx.engine.embed(input, signal);
    const data = vectors.map((v, index) => ({
      object: 'embedding',
      index,
      embedding: format === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v,
    }));
    return Response.json({
      object: 'list',
      data,
      model,
      usage: tokenUsage(promptTokens),
    });
  } finally {
    release();
  }
}
