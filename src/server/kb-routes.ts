/**
 * Knowledge-base routes of `lmforge api --kb_root DIR` (issue #16): the knowledge bases in kb_root, their
 * documents, retrieval and answering with the served model. Files are uploaded in the request (text, or base64
 * for pdf/docx) and kept in <kb_root>/<name>.files/: the API never reads paths a client names.
 *
 *   GET    /v1/kb                        {object: list, data: [{name, documents, chunks, settings}]}
 *   POST   /v1/kb                        {name, chunk_size?, chunk_overlap?}: creates one (chunk_unit chars)
 *   GET    /v1/kb/{name}/documents       {object: list, data: [{path, format, bytes, chunks, added_at}]}
 *   POST   /v1/kb/{name}/documents       {files: [{name, content} | {name, content_base64}]}: imports them
 *   DELETE /v1/kb/{name}/documents       {paths: [...]}: removes those documents
 *   POST   /v1/kb/{name}/search          {query, retriever?, top_k?, score_threshold?}: ranked hits
 *   POST   /v1/kb/{name}/ask             {question, history?, stream?, retriever?, top_k?, score_threshold?,
 *                                          temperature?, max_tokens?, prompt_language?}: the answer and its sources;
 *                                          streamed as SSE like chat (content deltas, then a kb.sources event, [DONE])
 * Dense and hybrid retrieval embed with the served model (its mean-pooled hidden states).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import type { GenerationOptions, Message } from '../infer/chat-engine.js';
import { writeFileAtomic } from '../io/atomic.js';
import { type AnsweringModel, ask } from '../kb/answer.js';
import type { Encoder } from '../kb/dense.js';
import { KbError } from '../kb/errors.js';
import { importPaths } from '../kb/importer.js';
import { makeRetriever, type RetrieverKind } from '../kb/retriever.js';
import { KnowledgeBase } from '../kb/store.js';
import type { Hit } from '../kb/types.js';
import type { ServerContext } from './context.js';
import { ApiError, invalidRequest } from './errors.js';
import { newId, sseResponse, unixSeconds } from './sse.js';

const NAME = /^[\w.-]{1,64}$/;
const RETRIEVERS: readonly RetrieverKind[] = ['bm25', 'dense', 'hybrid'];

type Body = Record<string, unknown>;

function kbPath(root: string, name: string): string {
  if (!NAME.test(name) || name.startsWith('.'))
    throw invalidRequest(`Knowledge-base names are 1-64 letters, digits, _ . -; got "${name}".`, 'name');
  return join(root, `${name}.sqlite`);
}

function openKb(root: string, name: string, readonly: boolean): KnowledgeBase {
  const file = kbPath(root, name);
  if (!existsSync(file))
    throw new ApiError(404, `No knowledge base "${name}" (create it with POST /v1/kb).`, 'not_found_error', 'name');
  return KnowledgeBase.open(file, { readonly });
}

/** KbErrors are the client's (a bad argument): 400 with the message. */
async function asRequestError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof KbError) throw invalidRequest(e.message);
    throw e;
  }
}

async function jsonBody(c: Context): Promise<Body> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (e) {
    throw invalidRequest(`The request body is not valid JSON: ${(e as Error).message}`, null, 'invalid_json');
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidRequest('The body must be a JSON object.');
  return body as Body;
}

function optionalNumber(body: Body, key: string, integer: boolean): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)))
    throw invalidRequest(`"${key}" must be ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}.`, key);
  return v;
}

function requiredString(body: Body, key: string): string {
  const v = body[key];
  if (typeof v !== 'string' || v.trim() === '') throw invalidRequest(`"${key}" must be a non-empty string.`, key);
  return v;
}

function hitJson(h: Hit, rank: number) {
  return {
    rank,
    source: h.source,
    score: h.score,
    text: h.text,
    start: h.start,
    end: h.end,
    heading: h.heading,
    page: h.page,
  };
}

function retrieverFor(ctx: ServerContext, kb: KnowledgeBase, body: Body) {
  const kind = (body.retriever ?? 'bm25') as RetrieverKind;
  if (!RETRIEVERS.includes(kind))
    throw invalidRequest(`"retriever" must be one of ${RETRIEVERS.join(', ')}.`, 'retriever');
  const encoder: Encoder = { name: ctx.engine.modelName, embed: (texts) => ctx.engine.embed(texts) };
  return makeRetriever(kb, kind, {
    topK: optionalNumber(body, 'top_k', true) ?? 3,
    scoreThreshold: optionalNumber(body, 'score_threshold', false) ?? null,
    encoder,
  });
}

function history(body: Body): Message[] {
  const h = body.history ?? [];
  if (!Array.isArray(h)) throw invalidRequest('"history" must be a list of {role, content} turns.', 'history');
  return h.map((m, i) => {
    const turn = m as { role?: unknown; content?: unknown };
    if ((turn.role !== 'user' && turn.role !== 'assistant') || typeof turn.content !== 'string')
      throw invalidRequest(`history[${i}] must be {role: user|assistant, content: string}.`, `history[${i}]`);
    return { role: turn.role, content: turn.content };
  });
}

/** The served engine as the answering model, its streamed pieces forwarded. */
function answeringModel(ctx: ServerContext, signal: AbortSignal): AnsweringModel {
  return {
    chat: (messages, opts) => ctx.engine.chat(messages, opts, signal),
    async chatLive(messages, opts, onPiece) {
      const stream = ctx.engine.streamChat(messages, opts, signal);
      for await (const piece of stream) onPiece(piece);
      return stream.result;
    },
  };
}

export function mountKbRoutes(app: Hono, ctx: ServerContext, kbRoot: string, limit: MiddlewareHandler): void {
  const root = resolve(kbRoot);
  app.get('/v1/kb', (c) => {
    const names = existsSync(root) ? readdirSync(root).filter((f) => f.endsWith('.sqlite')) : [];
    const data = names.map((f) => {
      const kb = KnowledgeBase.open(join(root, f), { readonly: true });
      try {
        return {
          name: f.slice(0, -'.sqlite'.length),
          documents: kb.documents().length,
          chunks: kb.chunkCount(),
          settings: kb.settings,
        };
      } finally {
        kb.close();
      }
    });
    return c.json({ object: 'list', data });
  });

  app.post('/v1/kb', limit, async (c) => {
    const body = await jsonBody(c);
    const name = requiredString(body, 'name');
    const file = kbPath(root, name);
    if (existsSync(file)) throw invalidRequest(`Knowledge base "${name}" already exists.`, 'name', 'already_exists');
    mkdirSync(root, { recursive: true });
    const settings = {
      chunk_size: optionalNumber(body, 'chunk_size', true) ?? 250,
      chunk_overlap: optionalNumber(body, 'chunk_overlap', true) ?? 50,
      chunk_unit: 'chars' as const,
      tokenizer: null,
    };
    await asRequestError(async () => KnowledgeBase.create(file, settings).close());
    return c.json({ name, documents: 0, chunks: 0, settings }, 201);
  });

  app.get('/v1/kb/:name/documents', (c) => {
    const kb = openKb(root, c.req.param('name'), true);
    try {
      const data = kb
        .documents()
        .map(({ path, format, bytes, chunks, added_at }) => ({ path, format, bytes, chunks, added_at }));
      return c.json({ object: 'list', data });
    } finally {
      kb.close();
    }
  });

  app.post('/v1/kb/:name/documents', limit, async (c) => {
    const name = c.req.param('name');
    const kb = openKb(root, name, false);
    try {
      const files = (await jsonBody(c)).files;
      if (!Array.isArray(files) || files.length === 0)
        throw invalidRequest('"files" must be a non-empty list of {name, content} or {name, content_base64}.', 'files');
      const folder = join(root, `${name}.files`);
      mkdirSync(folder, { recursive: true });
      const paths = files.map((f, i) => {
        const file = f as { name?: unknown; content?: unknown; content_base64?: unknown };
        const fileName = typeof file.name === 'string' ? basename(file.name) : '';
        if (!fileName || fileName.startsWith('.'))
          throw invalidRequest(`files[${i}].name must be a file name.`, `files[${i}].name`);
        let data: string | Buffer;
        if (typeof file.content === 'string') data = file.content;
        else if (typeof file.content_base64 === 'string') data = Buffer.from(file.content_base64, 'base64');
        else throw invalidRequest(`files[${i}] needs content (text) or content_base64.`, `files[${i}]`);
        const path = join(folder, fileName);
        writeFileAtomic(path, data);
        return path;
      });
      const s = kb.settings;
      const report = await importPaths(kb, paths, { chunkSize: s.chunk_size, chunkOverlap: s.chunk_overlap });
      return c.json({ files: report.files, chunks: report.chunks, documents: kb.documents().length });
    } finally {
      kb.close();
    }
  });

  app.delete('/v1/kb/:name/documents', limit, async (c) => {
    const name = c.req.param('name');
    const kb = openKb(root, name, false);
    const uploads = join(root, `${name}.files`) + sep;
    try {
      const paths = (await jsonBody(c)).paths;
      if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string'))
        throw invalidRequest('"paths" must be a list of document paths (as GET .../documents lists them).', 'paths');
      const removed = paths.filter((p) => {
        const done = kb.removeDocument(p);
        // An uploaded copy goes with its document.
        if (done && p.startsWith(uploads)) rmSync(p, { force: true });
        return done;
      });
      return c.json({ removed, documents: kb.documents().length });
    } finally {
      kb.close();
    }
  });

  app.post('/v1/kb/:name/search', limit, async (c) => {
    const body = await jsonBody(c);
    const query = requiredString(body, 'query');
    const kb = openKb(root, c.req.param('name'), body.retriever === undefined || body.retriever === 'bm25');
    try {
      const hits = await asRequestError(() => retrieverFor(ctx, kb, body)(query));
      return c.json({ object: 'list', data: hits.map((h, i) => hitJson(h, i + 1)) });
    } finally {
      kb.close();
    }
  });

  app.post('/v1/kb/:name/ask', limit, async (c) => {
    const body = await jsonBody(c);
    const question = requiredString(body, 'question');
    const language = body.prompt_language ?? 'auto';
    if (language !== 'auto' && language !== 'zh' && language !== 'en')
      throw invalidRequest('"prompt_language" must be auto, zh or en.', 'prompt_language');
    const generation: GenerationOptions = {};
    const temperature = optionalNumber(body, 'temperature', false);
    const maxTokens = optionalNumber(body, 'max_tokens', true);
    if (temperature !== undefined) generation.temperature = temperature;
    if (maxTokens !== undefined) generation.maxTokens = maxTokens;
    const turns = history(body);
    const kb = openKb(root, c.req.param('name'), body.retriever === undefined || body.retriever === 'bm25');
    let retrieve: (question: string) => Promise<Hit[]>;
    try {
      retrieve = asRequestErrorSync(() => retrieverFor(ctx, kb, body));
    } catch (e) {
      kb.close();
      throw e;
    }
    const options = { retrieve, history: turns, language, generation } as const;
    if (body.stream !== true) {
      try {
        const answer = await inSlot(ctx, c.req.raw.signal, () =>
          ask(answeringModel(ctx, c.req.raw.signal), question, options, () => {}),
        );
        return c.json({
          object: 'kb.answer',
          answer: answer.answer,
          found: answer.found,
          sources: answer.hits.map((h, i) => hitJson(h, i + 1)),
        });
      } finally {
        kb.close();
      }
    }
    const id = newId('kbans-');
    const created = unixSeconds();
    const abort = new AbortController();
    const events = pushQueue<string>();
    const chunk = (content: string) =>
      JSON.stringify({ id, object: 'kb.answer.chunk', created, choices: [{ index: 0, delta: { content } }] });
    inSlot(ctx, abort.signal, () =>
      ask(answeringModel(ctx, abort.signal), question, options, (text) => events.push(chunk(text))),
    )
      .then((answer) => {
        events.push(
          JSON.stringify({
            id,
            object: 'kb.sources',
            created,
            found: answer.found,
            sources: answer.hits.map((h, i) => hitJson(h, i + 1)),
          }),
        );
        events.push('[DONE]');
        events.end();
      })
      .catch((e) => events.fail(e))
      .finally(() => kb.close());
    return sseResponse(events.drain(), () => abort.abort());
  });
}

/** Answers take a generation slot like chat completions (the admission queue bounds them together). */
async function inSlot<T>(ctx: ServerContext, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  const release = await ctx.queue.acquire(signal);
  try {
    return await fn();
  } finally {
    release();
  }
}

function asRequestErrorSync<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KbError) throw invalidRequest(e.message);
    throw e;
  }
}

/** Values pushed by a callback, drained by an async generator (ask() streams by callback, SSE pulls). */
function pushQueue<T>() {
  const items: T[] = [];
  let done = false;
  let error: unknown = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  return {
    push(v: T) {
      items.push(v);
      notify();
    },
    end() {
      done = true;
      notify();
    },
    fail(e: unknown) {
      error = e;
      done = true;
      notify();
    },
    async *drain(): AsyncGenerator<T, void> {
      for (;;) {
        if (items.length > 0) yield items.shift() as T;
        else if (error) throw error;
        else if (done) return;
        else await new Promise<void>((r) => (wake = r));
      }
    },
  };
}
