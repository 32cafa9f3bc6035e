/**
 * The board's Knowledge-base tab server side (assets/webui/kb-tab.js): knowledge bases in a folder of the work dirs
 * (<root>/<name>.sqlite, as `lmforge kb --kb_root`), files added by path (confined to the work dirs like every
 * board path), BM25 search, and answers streamed by the Chat tab's loaded model with their sources.
 *
 *   GET  /api/kb/list?root=           [{name, documents, chunks}]
 *   POST /api/kb/create               {root, name, chunk_size?, chunk_overlap?}
 *   GET  /api/kb/documents?root=&name=
 *   POST /api/kb/add | /api/kb/remove {root, name, paths}
 *   POST /api/kb/search               {root, name, query, top_k?}
 *   POST /api/kb/ask                  {root, name, question, top_k?}: SSE {text}..., then {sources, found}, {done}
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Hono } from 'hono';
import type { GenerationOptions, Message, StreamPiece } from '../infer/chat-engine.js';
import { type AnsweringModel, ask } from '../kb/answer.js';
import { importPaths } from '../kb/importer.js';
import { makeRetriever } from '../kb/retriever.js';
import { KnowledgeBase } from '../kb/store.js';
import type { Hit } from '../kb/types.js';
import type { ChatSession } from './chat-session.js';
import type { WorkDirs } from './work-dirs.js';

const NAME = /^[\w.-]{1,64}$/;

function userError(message: string): Error {
  return Object.assign(new Error(message), { userFacing: true });
}

function text(v: unknown, name: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw userError(`${name} is required (a non-empty string)`);
  return v.trim();
}

function topK(v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : 3;
}

function hitJson(h: Hit, rank: number) {
  return { rank, source: h.source, score: h.score, text: h.text, heading: h.heading, page: h.page };
}

/** The Chat tab's model as the answering model (a history rewrite collects the streamed pieces). */
function chatModel(chat: ChatSession, signal: AbortSignal): AnsweringModel {
  return {
    async chat(messages: readonly Message[], opts: GenerationOptions) {
      let out = '';
      for await (const piece of chat.stream(messages, opts, signal)) out += piece.text;
      return [{ text: out }];
    },
    async chatLive(messages: readonly Message[], opts: GenerationOptions, onPiece: (p: StreamPiece) => void) {
      for await (const piece of chat.stream(messages, opts, signal)) onPiece(piece);
    },
  };
}

export function mountBoardKb(app: Hono, workDirs: WorkDirs, chat: ChatSession): void {
  const rootOf = (v: unknown) => workDirs.resolve(text(v, 'root'));
  const fileOf = (root: string, name: unknown) => {
    const n = text(name, 'name');
    if (!NAME.test(n) || n.startsWith('.'))
      throw userError(`knowledge-base names are letters, digits, _ . - (got "${n}")`);
    return join(root, `${n}.sqlite`);
  };
  const withKb = <T>(b: Record<string, unknown>, readonly: boolean, fn: (kb: KnowledgeBase) => T): T => {
    const kb = KnowledgeBase.open(fileOf(rootOf(b.root), b.name), { readonly });
    try {
      return fn(kb);
    } finally {
      kb.close();
    }
  };
  const body = async (c: { req: { json(): Promise<unknown> } }) => (await c.req.json()) as Record<string, unknown>;

  app.get('/api/kb/list', (c) => {
    const root = rootOf(c.req.query('root'));
    const names = existsSync(root) ? readdirSync(root).filter((f) => f.endsWith('.sqlite')) : [];
    const bases = names.map((f) =>
      withKb({ root, name: f.slice(0, -'.sqlite'.length) }, true, (kb) => ({
        name: f.slice(0, -'.sqlite'.length),
        documents: kb.documents().length,
        chunks: kb.chunkCount(),
      })),
    );
    return c.json({ bases });
  });
  app.post('/api/kb/create', async (c) => {
    const b = await body(c);
    const root = rootOf(b.root);
    const file = fileOf(root, b.name);
    if (existsSync(file)) throw userError(`${workDirs.display(file)} already exists`);
    mkdirSync(root, { recursive: true });
    const size = (v: unknown, d: number) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : d);
    KnowledgeBase.create(file, {
      chunk_size: size(b.chunk_size, 250),
      chunk_overlap: size(b.chunk_overlap, 50),
      chunk_unit: 'chars',
      tokenizer: null,
    }).close();
    return c.json({ created: workDirs.display(file) });
  });
  app.get('/api/kb/documents', (c) =>
    c.json({
      documents: withKb({ root: c.req.query('root'), name: c.req.query('name') }, true, (kb) =>
        kb.documents().map((d) => ({ path: workDirs.display(d.path), format: d.format, chunks: d.chunks })),
      ),
    }),
  );
  app.post('/api/kb/add', async (c) => {
    const b = await body(c);
    if (!Array.isArray(b.paths) || b.paths.length === 0) throw userError('paths: give one or more files or folders');
    const paths = b.paths.map((p) => workDirs.resolve(text(p, 'paths[]')));
    const kb = KnowledgeBase.open(fileOf(rootOf(b.root), b.name));
    try {
      const s = kb.settings;
      const report = await importPaths(kb, paths, { chunkSize: s.chunk_size, chunkOverlap: s.chunk_overlap });
      return c.json({
        files: report.files.map((f) => ({ ...f, path: workDirs.display(f.path) })),
        chunks: report.chunks,
      });
    } finally {
      kb.close();
    }
  });
  app.post('/api/kb/remove', async (c) => {
    const b = await body(c);
    const paths = Array.isArray(b.paths) ? b.paths.map((p) => workDirs.resolve(text(p, 'paths[]'))) : [];
    return c.json({ removed: withKb(b, false, (kb) => paths.filter((p) => kb.removeDocument(p)).length) });
  });
  app.post('/api/kb/search', async (c) => {
    const b = await body(c);
    const query = text(b.query, 'query');
    const kb = KnowledgeBase.open(fileOf(rootOf(b.root), b.name), { readonly: true });
    try {
      const hits = await makeRetriever(kb, 'bm25', { topK: topK(b.top_k), scoreThreshold: null })(query);
      return c.json({ hits: hits.map((h, i) => ({ ...hitJson(h, i + 1), source: workDirs.display(h.source) })) });
    } finally {
      kb.close();
    }
  });
  app.post('/api/kb/ask', async (c) => {
    const b = await body(c);
    const question = text(b.question, 'question');
    const kb = KnowledgeBase.open(fileOf(rootOf(b.root), b.name), { readonly: true });
    const controller = new AbortController();
    const encoder = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      start(out) {
        const send = (data: unknown) => out.enqueue(encoder.encode(`data: ${JSON.stringify(data)}\n\n`));
        const retrieve = makeRetriever(kb, 'bm25', { topK: topK(b.top_k), scoreThreshold: null });
        ask(
          chatModel(chat, controller.signal),
          question,
          { retrieve, history: [], language: 'auto', generation: {} },
          (t) => send({ text: t }),
        )
          .then((answer) => {
            const sources = answer.hits.map((h, i) => ({ ...hitJson(h, i + 1), source: workDirs.display(h.source) }));
            send({ sources, found: answer.found });
            send({ done: true });
          })
          .catch((e: Error) => {
            if (!controller.signal.aborted) send({ error: e.message });
          })
          .finally(() => {
            kb.close();
            try {
              out.close();
            } catch {}
          });
      },
      cancel() {
        controller.abort();
      },
    });
    return new Response(stream, {
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' },
    });
  });
}
