/**
 * The board's HTTP face (Hono): the bundled page and its assets, JSON routes for the pickers, training runs and
 * chat, and two event streams (a run's progress; a chat answer). Every path from the browser goes through WorkDirs;
 * with a token set every route, streams included, needs it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hono } from 'hono';
import { parse as parseYaml } from 'yaml';
import type { Stage } from '../data/dataset.js';
import { templateNames } from '../data/template/registry.js';
import type { Message } from '../infer/chat-engine.js';
import { writeFileAtomic } from '../io/atomic.js';
import { requireToken } from './auth.js';
import type { RunKind } from './board-run-file.js';
import { findAdapters, findModelDirs, impliedTemplate, listDatasets, previewRecords } from './catalog.js';
import type { ChatSession } from './chat-session.js';
import { trainCommandLine } from './command-line.js';
import { LLAMABOARD_DEFAULTS } from './defaults.js';
import { readEvalResults, readPredictResults } from './eval-results.js';
import type { ExportJob } from './export-job.js';
import { mountBoardKb } from './kb-board.js';
import { argsYaml, type RunManager, type RunSnapshot } from './runs.js';
import { OutsideWorkDirsError, type WorkDirs } from './work-dirs.js';

export interface BoardContext {
  workDirs: WorkDirs;
  runs: RunManager;
  chat: ChatSession;
  exportJob: ExportJob;
  /** null: no token needed (loopback only). */
  token: string | null;
  /** Folder with index.html, board.js, board.css. */
  assetsDir: string;
  /** The model the command line named, pre-filled in the top bar. */
  initial: Record<string, unknown>;
}

const ASSETS: Record<string, string> = {
  'board.js': 'text/javascript; charset=utf-8',
  'board.css': 'text/css; charset=utf-8',
  'i18n.js': 'text/javascript; charset=utf-8',
  'eval-tab.js': 'text/javascript; charset=utf-8',
  'kb-tab.js': 'text/javascript; charset=utf-8',
};

const encoder = new TextEncoder();

/** An SSE response; `subscribe` gets send/close and returns its cleanup, run once when either side ends it. */
function sse(subscribe: (send: (data: unknown) => void, close: () => void) => () => void): Response {
  let open = true;
  let unsubscribe: () => void = () => {};
  const end = () => {
    if (!open) return false;
    open = false;
    unsubscribe();
    return true;
  };
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (data: unknown) => {
        if (open) controller.enqueue(encoder.encode(`data: ${JSON.stringify(data)}\n\n`));
      };
      unsubscribe = subscribe(send, () => {
        if (end()) controller.close();
      });
      if (!open) unsubscribe(); // closed during subscribe
    },
    cancel() {
      end(); // the browser went away (Stop, a closed tab)
    },
  });
  return new Response(body, {
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' },
  });
}

function str(v: unknown, name: string): string {
  if (typeof v !== 'string' || v === '') {
    throw Object.assign(new Error(`${name} is required (a non-empty string)`), { userFacing: true });
  }
  return v;
}

/** `train` (lmforge train: training, do_predict) unless the body asks for `eval` (lmforge eval). */
function runKind(v: unknown): RunKind {
  return v === 'eval' ? 'eval' : 'train';
}

function record(v: unknown, name: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw Object.assign(new Error(`${name} must be an object of argument names to values`), { userFacing: true });
  }
  return v as Record<string, unknown>;
}

export function createBoardApp(ctx: BoardContext): Hono {
  const { workDirs, runs, chat } = ctx;
  const app = new Hono();
  app.onError((e, c) => {
    if (e instanceof OutsideWorkDirsError) return c.json({ error: e.message }, 403);
    if ((e as { userFacing?: boolean }).userFacing || e.name === 'HparamsError' || e.name === 'TemplateError') {
      return c.json({ error: e.message }, 400);
    }
    return c.json({ error: `internal error: ${e.message}` }, 500);
  });
  app.use('*', requireToken(ctx.token));

  app.get('/', (c) => c.html(readFileSync(join(ctx.assetsDir, 'index.html'), 'utf8')));
  app.get('/assets/:name', (c) => {
    const name = c.req.param('name');
    const type = ASSETS[name];
    if (!type) return c.json({ error: `no asset ${name}` }, 404);
    return c.body(readFileSync(join(ctx.assetsDir, name), 'utf8'), 200, { 'content-type': type });
  });

  app.get('/api/info', (c) =>
    c.json({
      workDirs: workDirs.roots,
      templates: templateNames(),
      defaults: LLAMABOARD_DEFAULTS,
      initial: ctx.initial,
    }),
  );
  app.get('/api/models', (c) => c.json({ models: findModelDirs(workDirs) }));
  app.get('/api/adapters', (c) => c.json({ adapters: findAdapters(workDirs) }));
  app.get('/api/datasets', (c) => c.json({ datasets: listDatasets(workDirs, str(c.req.query('dir'), 'dir')) }));
  app.get('/api/template-hint', (c) => c.json(impliedTemplate(workDirs, str(c.req.query('model'), 'model'))));
  app.post('/api/preview', async (c) => {
    const b = record(await c.req.json(), 'body');
    const dataset = String(b.dataset ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (dataset.length === 0) throw Object.assign(new Error('pick a dataset to preview'), { userFacing: true });
    return c.json(
      await previewRecords(workDirs, {
        modelDir: str(b.model_name_or_path, 'model_name_or_path'),
        datasetDir: str(b.dataset_dir, 'dataset_dir'),
        dataset,
        template: typeof b.template === 'string' && b.template !== '' ? b.template : null,
        stage: (typeof b.stage === 'string' ? b.stage : 'sft') as Stage,
        cutoffLen: Number(b.cutoff_len) > 0 ? Number(b.cutoff_len) : 2048,
        trainOnPrompt: b.train_on_prompt === true,
        count: 3,
      }),
    );
  });

  app.post('/api/command', async (c) => {
    const body = record(await c.req.json(), 'body');
    const args = record(body.args, 'args');
    runs.confine(args); // the same refusals Start would give
    if (runKind(body.kind) === 'train') return c.json({ command: trainCommandLine(args) });
    const { output_dir, ...evalArgs } = args; // the run's folder; save_dir is its results/
    return c.json({ command: trainCommandLine({ ...evalArgs, save_dir: `${output_dir}/results` }, 'eval') });
  });
  app.post('/api/args/save', async (c) => {
    const b = record(await c.req.json(), 'body');
    const path = workDirs.resolve(str(b.path, 'path'));
    writeFileAtomic(path, argsYaml(record(b.args, 'args')));
    return c.json({ saved: workDirs.display(path) });
  });
  app.post('/api/args/load', async (c) => {
    const path = workDirs.resolve(str((await c.req.json()).path, 'path'));
    if (!existsSync(path))
      throw Object.assign(new Error(`${workDirs.display(path)} does not exist`), { userFacing: true });
    return c.json({ args: record(parseYaml(readFileSync(path, 'utf8')), workDirs.display(path)) });
  });

  app.post('/api/train/start', async (c) => {
    const body = record(await c.req.json(), 'body');
    const outputDir = runs.start(record(body.args, 'args'), runKind(body.kind));
    return c.json(runs.snapshot(outputDir));
  });
  app.get('/api/predict/results', (c) =>
    c.json(readPredictResults(workDirs.resolve(str(c.req.query('output_dir'), 'output_dir')))),
  );
  app.get('/api/eval/results', (c) =>
    c.json({ results: readEvalResults(workDirs.resolve(str(c.req.query('output_dir'), 'output_dir'))) }),
  );
  app.post('/api/train/abort', async (c) => {
    const aborted = runs.abort(str((await c.req.json()).output_dir, 'output_dir'));
    return c.json({ aborted });
  });
  app.get('/api/train/state', (c) => c.json(runs.snapshot(str(c.req.query('output_dir'), 'output_dir'))));
  app.get('/api/train/saved', (c) => c.json({ args: runs.savedArgs(str(c.req.query('output_dir'), 'output_dir')) }));
  app.get('/api/train/events', (c) => {
    const outputDir = workDirs.resolve(str(c.req.query('output_dir'), 'output_dir'));
    return sse((send) => runs.watch(outputDir, (s: RunSnapshot) => send(s)));
  });

  app.post('/api/export/start', async (c) => c.json(ctx.exportJob.start(record((await c.req.json()).args, 'args'))));
  app.get('/api/export/state', (c) => c.json(ctx.exportJob.snapshot()));

  app.get('/api/chat/status', (c) => c.json(chat.status()));
  app.post('/api/chat/load', async (c) => {
    const b = record(await c.req.json(), 'body');
    const adapters =
      typeof b.adapter_name_or_path === 'string' && b.adapter_name_or_path !== ''
        ? b.adapter_name_or_path.split(',')
        : [];
    return c.json(
      await chat.load({
        model_name_or_path: str(b.model_name_or_path, 'model_name_or_path'),
        adapter_name_or_path: adapters,
        template: typeof b.template === 'string' ? b.template : null,
        default_system: typeof b.default_system === 'string' ? b.default_system : null,
      }),
    );
  });
  app.post('/api/chat/unload', async (c) => {
    await chat.unload();
    return c.json(chat.status());
  });
  app.post('/api/chat/stream', async (c) => {
    const b = record(await c.req.json(), 'body');
    if (!Array.isArray(b.messages)) throw Object.assign(new Error('messages must be a list'), { userFacing: true });
    const messages = b.messages as Message[];
    const controller = new AbortController();
    const stream = chat.stream(
      messages,
      {
        ...(typeof b.system === 'string' && b.system !== '' ? { system: b.system } : {}),
        ...(typeof b.temperature === 'number' ? { temperature: b.temperature } : {}),
        ...(typeof b.top_p === 'number' ? { topP: b.top_p } : {}),
        ...(typeof b.max_new_tokens === 'number' ? { maxTokens: b.max_new_tokens } : {}),
      },
      controller.signal,
    );
    return sse((send, close) => {
      void (async () => {
        try {
          for await (const piece of stream) send({ text: piece.text });
          send({ done: true });
        } catch (e) {
          if (!controller.signal.aborted) send({ error: (e as Error).message });
        }
        close();
      })();
      return () => controller.abort();
    });
  });
  mountBoardKb(app, workDirs, chat);
  return app;
}
