/**
 * ChatModel: the ChatEngine over a real model. By default the model lives in a worker thread (chat-worker.ts) so
 * generation never blocks the event loop (the API server keeps answering, timers keep firing); this object is a
 * proxy that streams the worker's pieces back. `inProcess: true` runs the model on the calling thread instead
 * (blocking while it generates): the terminal chat and tests use it.
 *
 *   const model = await ChatModel.load({ model_name_or_path: dir, template: 'llama3' });
 *   for await (const piece of model.streamChat([{ role: 'user', content: 'Hi' }], {})) process.stdout.write(piece.text);
 *   await model.close();
 */
import type { Worker } from 'node:worker_threads';
import type { Template } from '../data/template/template.js';
import type { ChoiceScorer } from '../eval/evaluator.js';
import { siblingWorker } from '../util/sibling-worker.js';
import {
  abortError,
  type ChatEngine,
  type EmbeddingResult,
  type GenerationOptions,
  type GenerationResult,
  type GenerationStream,
  type Message,
  type StreamPiece,
  type ToolCall,
  type ToolDefinition,
} from './chat-engine.js';
import {
  type ChatModelArgs,
  ChatModelError,
  ChatRunner,
  CONTROL_ABORT,
  CONTROL_STOP,
  extractToolCalls,
  type GenerateJob,
  loadTokenizerAndTemplate,
  type PieceSink,
} from './chat-runner.js';
import { pieceStream } from './piece-stream.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker-protocol.js';

export interface ChatModelOptions {
  /** Run the model on this thread (blocking during generation) instead of a worker thread. */
  inProcess?: boolean;
}

/** Where the model runs: this thread or a worker. */
interface Backend {
  generate(job: GenerateJob, sink: PieceSink, control: Int32Array): Promise<GenerationResult[]>;
  embed(texts: readonly string[]): Promise<EmbeddingResult>;
  choiceLogits(prompts: readonly (readonly Message[])[]): Promise<number[][]>;
  close(): Promise<void>;
}

export class ChatModel implements ChatEngine, ChoiceScorer {
  readonly canGenerate = true;

  private constructor(
    readonly modelName: string,
    /** Prompt + new tokens at most (max_model_len). */
    readonly maxModelLen: number,
    private readonly backend: Backend,
    private readonly template: Template,
    /** The model itself when it runs in-process (library users may want the CausalLM); null in worker mode. */
    readonly runner: ChatRunner | null,
  ) {}

  static async load(args: ChatModelArgs, options: ChatModelOptions = {}): Promise<ChatModel> {
    if (options.inProcess) {
      const runner = await ChatRunner.load(args);
      return new ChatModel(
        args.model_name_or_path,
        runner.maxModelLen,
        new InProcessBackend(runner),
        runner.template,
        runner,
      );
    }
    // The main thread keeps a tokenizer and template of its own for extractToolCalls (synchronous by contract);
    // loading them first also reports a bad model folder before a worker starts.
    const { template, maxModelLen } = loadTokenizerAndTemplate(args);
    const backend = await WorkerBackend.start(args);
    return new ChatModel(args.model_name_or_path, maxModelLen, backend, template, null);
  }

  streamChat(messages: readonly Message[], opts: GenerationOptions, signal?: AbortSignal): GenerationStream {
    return this.stream({ kind: 'chat', messages, opts: { ...opts, n: 1 } }, signal);
  }

  streamComplete(prompt: string, opts: GenerationOptions, signal?: AbortSignal): GenerationStream {
    return this.stream({ kind: 'complete', prompt, opts: { ...opts, n: 1 } }, signal);
  }

  chat(messages: readonly Message[], opts: GenerationOptions, signal?: AbortSignal): Promise<GenerationResult[]> {
    return this.run({ kind: 'chat', messages, opts }, signal);
  }

  complete(prompt: string, opts: GenerationOptions, signal?: AbortSignal): Promise<GenerationResult[]> {
    return this.run({ kind: 'complete', prompt, opts }, signal);
  }

  /**
   * One answer whose pieces go to `onPiece` as they are generated — synchronously from inside generation when the
   * model runs in-process, so a terminal shows tokens as they come even though the thread is busy.
   */
  async chatLive(
    messages: readonly Message[],
    opts: GenerationOptions,
    onPiece: (piece: StreamPiece) => void,
    signal?: AbortSignal,
  ): Promise<GenerationResult> {
    const [result] = await this.run({ kind: 'chat', messages, opts: { ...opts, n: 1 } }, signal, (_row, piece) =>
      onPiece(piece),
    );
    return result as GenerationResult;
  }

  async embed(texts: readonly string[], signal?: AbortSignal): Promise<EmbeddingResult> {
    if (signal?.aborted) throw abortError(signal.reason);
    return this.backend.embed(texts);
  }

  /** ChoiceScorer for `lmforge eval`: logits of A/B/C/D after each conversation's answer prompt. */
  choiceLogits(prompts: readonly (readonly Message[])[]): Promise<number[][]> {
    return this.backend.choiceLogits(prompts);
  }

  extractToolCalls(text: string, tools?: readonly ToolDefinition[]): ToolCall[] | null {
    return extractToolCalls(this.template, text, tools);
  }

  /** Frees the model (and ends the worker). */
  close(): Promise<void> {
    return this.backend.close();
  }

  private stream(job: GenerateJob, signal?: AbortSignal): GenerationStream {
    const control = newControl();
    return pieceStream(
      {
        start: (push) =>
          this.backend.generate(job, (_row, piece) => push(piece), control).then((r) => r[0] as GenerationResult),
        stop: () => Atomics.store(control, 0, CONTROL_STOP),
        abort: () => Atomics.store(control, 0, CONTROL_ABORT),
      },
      signal,
    );
  }

  private async run(job: GenerateJob, signal?: AbortSignal, sink: PieceSink = () => {}): Promise<GenerationResult[]> {
    if (signal?.aborted) throw abortError(signal.reason);
    const control = newControl();
    const onAbort = () => Atomics.store(control, 0, CONTROL_ABORT);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.backend.generate(job, sink, control);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

function newControl(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4));
}

class InProcessBackend implements Backend {
  constructor(private readonly runner: ChatRunner) {}

  async generate(job: GenerateJob, sink: PieceSink, control: Int32Array): Promise<GenerationResult[]> {
    return this.runner.run(job, sink, control);
  }

  embed(texts: readonly string[]): Promise<EmbeddingResult> {
    return this.runner.embed(texts);
  }

  choiceLogits(prompts: readonly (readonly Message[])[]): Promise<number[][]> {
    return this.runner.choiceLogits(prompts);
  }

  close(): Promise<void> {
    return this.runner.close();
  }
}

interface Pending {
  sink?: PieceSink;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

class WorkerBackend implements Backend {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private dead: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: WorkerReply) => this.onReply(m));
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => this.fail(new Error(`the model worker exited (code ${code})`)));
  }

  static start(args: ChatModelArgs): Promise<WorkerBackend> {
    const init: WorkerInit = { args };
    const worker = siblingWorker('chat-worker', import.meta.url, { workerData: init });
    return new Promise((resolve, reject) => {
      const onMessage = (m: WorkerReply) => {
        if (m.type === 'ready') {
          cleanup();
          resolve(new WorkerBackend(worker));
        } else if (m.type === 'error') {
          cleanup();
          void worker.terminate();
          reject(toError(m));
        }
      };
      const onError = (e: Error) => {
        cleanup();
        reject(e);
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`the model worker exited (code ${code}) before the model was loaded`));
      };
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  generate(job: GenerateJob, sink: PieceSink, control: Int32Array): Promise<GenerationResult[]> {
    return this.request(
      (id) => ({ id, op: 'generate', job, control: control.buffer as SharedArrayBuffer }),
      sink,
    ) as Promise<GenerationResult[]>;
  }

  embed(texts: readonly string[]): Promise<EmbeddingResult> {
    return this.request((id) => ({ id, op: 'embed', texts })) as Promise<EmbeddingResult>;
  }

  choiceLogits(prompts: readonly (readonly Message[])[]): Promise<number[][]> {
    return this.request((id) => ({ id, op: 'choiceLogits', prompts })) as Promise<number[][]>;
  }

  async close(): Promise<void> {
    this.dead ??= new Error('the model was closed');
    await this.worker.terminate();
  }

  private request(make: (id: number) => WorkerRequest, sink?: PieceSink): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { ...(sink ? { sink } : {}), resolve, reject });
      this.worker.postMessage(make(id));
    });
  }

  private onReply(m: WorkerReply): void {
    if (m.type === 'ready') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.type === 'piece') {
      p.sink?.(m.row, m.piece as StreamPiece);
      return;
    }
    this.pending.delete(m.id);
    if (m.type === 'done') p.resolve(m.value);
    else p.reject(toError(m));
  }

  private fail(e: Error): void {
    this.dead ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

/** Rebuilds an error the worker reported, keeping its name (AbortError) and whether users should see it plainly. */
function toError(m: Extract<WorkerReply, { type: 'error' }>): Error {
  const err = m.userFacing ? new ChatModelError(m.message) : new Error(m.message);
  err.name = m.name;
  return err;
}
