/**
 * The OpenAI-compatible HTTP API (LLaMA-Factory's `api`), as a Hono app: CORS open to every origin, bearer-key auth
 * when API_KEY is set, OpenAI-style error objects for every failure, and a bounded queue in front of the engine.
 * Handlers only await the engine's async interface, so the event loop stays free while a worker generates.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { type ChatEngine, isAbortError } from '../infer/chat-engine.js';
import { isContextLengthError } from '../infer/context-limit.js';
import { chatCompletions } from './chat-completions.js';
import { completions } from './completions.js';
import { DEFAULT_MAX_BODY_BYTES, type ServerContext, type ServerSettings } from './context.js';
import { embeddings } from './embeddings.js';
import { ApiError, invalidRequest } from './errors.js';
import { mountKbRoutes } from './kb-routes.js';
import { QueueFullError, RequestQueue } from './request-queue.js';
import { scoreEvaluation } from './score.js';
import { unixSeconds } from './sse.js';

type Handler = (ctx: ServerContext, body: unknown, signal: AbortSignal) => Promise<Response>;

export function createApp(engine: ChatEngine, settings: ServerSettings): Hono {
  const ctx: ServerContext = { engine, settings, queue: new RequestQueue(settings.maxConcurrent, settings.maxWaiting) };
  const app = new Hono();
  // LLaMA-Factory allows every origin, method and header, with credentials.
  app.use('*', cors({ origin: (origin) => origin || '*', credentials: true }));
  app.use('/v1/*', async (c, next) => {
    if (!settings.apiKey) return next();
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match || match[1] !== settings.apiKey) {
      throw new ApiError(
        401,
        match ? 'Invalid API key.' : 'Missing API key: send it as "Authorization: Bearer <key>".',
        'invalid_request_error',
        null,
        'invalid_api_key',
      );
    }
    return next();
  });

  app.get('/v1/models', (c) =>
    c.json({
      object: 'list',
      data: [{ id: settings.modelName, object: 'model', created: unixSeconds(), owned_by: 'owner' }],
    }),
  );
  // Bodies are read whole into memory: a bound keeps one request from taking the server's.
  const maxBodyBytes = settings.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const limit = bodyLimit({
    maxSize: maxBodyBytes,
    onError: () => {
      throw new ApiError(
        413,
        `The request body is larger than this server's limit of ${maxBodyBytes} bytes. Send a shorter ` +
          'request, or start the server with a larger --max_body_bytes (API_MAX_BODY_BYTES).',
        'invalid_request_error',
        null,
        'request_too_large',
      );
    },
  });
  /** `input` names the field a request too long for the context is refused on (OpenAI: `messages`). */
  const post = (path: string, handler: Handler, input: string) =>
    app.post(path, limit, async (c) => {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch (e) {
        throw invalidRequest(`The request body is not valid JSON: ${(e as Error).message}`, null, 'invalid_json');
      }
      try {
        return await handler(ctx, body, c.req.raw.signal);
      } catch (e) {
        if (isContextLengthError(e)) throw invalidRequest((e as Error).message, input, 'context_length_exceeded');
        throw e;
      }
    });
  post('/v1/chat/completions', chatCompletions, 'messages');
  post('/v1/completions', completions, 'prompt');
  post('/v1/embeddings', embeddings, 'input');
  post('/v1/score/evaluation', scoreEvaluation, 'messages');
  if (settings.kbRoot) mountKbRoutes(app, ctx, settings.kbRoot, limit);

  app.notFound((c) =>
    c.json(
      new ApiError(
        404,
        `Unknown route: ${c.req.method} ${c.req.path}.`,
        'invalid_request_error',
        null,
        'unknown_url',
      ).toJSON(),
      404,
    ),
  );
  app.onError((err, c) => {
    const apiError = toApiError(err);
    return c.json(apiError.toJSON(), apiError.status);
  });
  return app;
}

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof QueueFullError) return new ApiError(429, err.message, 'rate_limit_error', null, 'queue_full');
  // The name survives the worker boundary (chat-model.ts rebuilds errors by name): a request the KV budget can never hold.
  if (err instanceof Error && err.name === 'KVBudgetError')
    return new ApiError(400, err.message, 'invalid_request_error', 'max_tokens', 'kv_budget_exceeded');
  if (isAbortError(err)) {
    // Only seen by clients that are still there, e.g. when the engine was shut down under them.
    return new ApiError(503, 'The request was cancelled before it finished.', 'server_error', null, 'cancelled');
  }
  console.error('lmforge api: internal error:', err);
  return new ApiError(500, `Internal error: ${(err as Error)?.message ?? String(err)}`, 'server_error');
}
