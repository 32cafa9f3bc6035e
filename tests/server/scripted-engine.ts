/**
 * Test double for ChatEngine: answers with scripted pieces, optionally one every `delayMs`, and records what it was
 * asked and whether its generations were aborted. It follows the GenerationStream contract (break = early stop with
 * a result, abort = AbortError) so the server is tested against the behaviour the real engine must have.
 */
import {
  abortError,
  type ChatEngine,
  type EmbeddingResult,
  type GenerationFinish,
  type GenerationOptions,
  type GenerationResult,
  type GenerationStream,
  type Message,
  type StreamPiece,
  type ToolCall,
  type ToolDefinition,
} from '../../src/infer/chat-engine.js';
import { checkInputLength, type InputName, newTokenBudget } from '../../src/infer/context-limit.js';

export interface ScriptInput {
  messages?: readonly Message[];
  prompt?: string;
  choice: number;
}

export interface ScriptedEngineOptions {
  /** Pieces of the answer for one choice. */
  script?: (input: ScriptInput) => string[];
  delayMs?: number;
  /** Finish reason when the script runs out (a real engine: EOS = stop, max tokens = length). */
  finishReason?: GenerationFinish;
  canGenerate?: boolean;
  /** Fail (a plain Error, not an abort) when about to produce this piece. */
  failAt?: number;
  /** max_model_len, one token per prompt character: longer requests get the real engine's ContextLengthError. */
  maxModelLen?: number;
}

export interface RecordedCall {
  kind: 'streamChat' | 'chat' | 'complete' | 'streamComplete' | 'embed' | 'score';
  messages?: readonly Message[];
  prompt?: string;
  texts?: readonly string[];
  opts?: GenerationOptions;
}

export class ScriptedEngine implements ChatEngine {
  readonly modelName = 'scripted-test-model';
  readonly canGenerate: boolean;
  readonly calls: RecordedCall[] = [];
  /** Generations that saw their signal abort. */
  aborted = 0;
  /** Generations the caller ended early by breaking out of the iteration. */
  brokenOff = 0;
  private readonly script: (input: ScriptInput) => string[];
  private readonly delayMs: number;
  private readonly finishReason: GenerationFinish;
  private readonly failAt: number;
  readonly maxModelLen?: number;

  constructor(options: ScriptedEngineOptions = {}) {
    this.script = options.script ?? (() => ['Hello', ',', ' world', '!']);
    this.delayMs = options.delayMs ?? 0;
    this.finishReason = options.finishReason ?? 'stop';
    this.canGenerate = options.canGenerate ?? true;
    this.failAt = options.failAt ?? -1;
    if (options.maxModelLen !== undefined) this.maxModelLen = options.maxModelLen;
  }

  /** The real engine's context rule, with the prompt's characters as its tokens. */
  private fit(prompt: number, opts: GenerationOptions, input: InputName): void {
    if (this.maxModelLen !== undefined) newTokenBudget(prompt, opts.maxTokens, 1000, this.maxModelLen, input);
  }

  streamChat(messages: readonly Message[], opts: GenerationOptions, signal?: AbortSignal): GenerationStream {
    this.calls.push({ kind: 'streamChat', messages, opts });
    const fit = () => this.fit(promptTokens(messages), opts, 'messages');
    return this.stream(this.script({ messages, choice: 0 }), promptTokens(messages), signal, fit);
  }

  streamComplete(prompt: string, opts: GenerationOptions, signal?: AbortSignal): GenerationStream {
    this.calls.push({ kind: 'streamComplete', prompt, opts });
    const fit = () => this.fit(prompt.length, opts, 'prompt');
    return this.stream(this.script({ prompt, choice: 0 }), prompt.length, signal, fit);
  }

  async chat(messages: readonly Message[], opts: GenerationOptions, signal?: AbortSignal): Promise<GenerationResult[]> {
    this.calls.push({ kind: 'chat', messages, opts });
    this.fit(promptTokens(messages), opts, 'messages');
    return this.collect((choice) => this.script({ messages, choice }), promptTokens(messages), opts, signal);
  }

  async complete(prompt: string, opts: GenerationOptions, signal?: AbortSignal): Promise<GenerationResult[]> {
    this.calls.push({ kind: 'complete', prompt, opts });
    this.fit(prompt.length, opts, 'prompt');
    return this.collect((choice) => this.script({ prompt, choice }), prompt.length, opts, signal);
  }

  async embed(texts: readonly string[]): Promise<EmbeddingResult> {
    this.calls.push({ kind: 'embed', texts });
    if (this.maxModelLen !== undefined)
      for (const [i, t] of texts.entries()) checkInputLength(t.length, i, this.maxModelLen);
    // A vector anyone can recompute: [length, first char code, 0.1].
    return {
      vectors: texts.map((t) => [t.length, t.charCodeAt(0) || 0, 0.1]),
      promptTokens: texts.reduce((s, t) => s + t.length, 0),
    };
  }

  async score(texts: readonly string[]): Promise<number[]> {
    this.calls.push({ kind: 'score', texts });
    return texts.map((t) => t.length / 10);
  }

  /** Calls written as `{"name": ..., "arguments": {...}}` (one object or a list of them). */
  extractToolCalls(text: string, tools?: readonly ToolDefinition[]): ToolCall[] | null {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return null;
    }
    const list = Array.isArray(parsed) ? parsed : [parsed];
    const calls: ToolCall[] = [];
    for (const item of list) {
      const call = item as { name?: unknown; arguments?: unknown };
      if (typeof call.name !== 'string' || !tools?.some((t) => t.name === call.name)) return null;
      calls.push({ name: call.name, arguments: JSON.stringify(call.arguments ?? {}) });
    }
    return calls;
  }

  private async collect(
    script: (choice: number) => string[],
    prompt: number,
    opts: GenerationOptions,
    signal?: AbortSignal,
  ): Promise<GenerationResult[]> {
    const results: GenerationResult[] = [];
    for (let choice = 0; choice < (opts.n ?? 1); choice++) {
      const pieces = script(choice);
      if (this.failAt >= 0) throw new Error('the engine exploded');
      try {
        for (let i = 0; i < pieces.length; i++) await this.tick(signal);
      } catch (e) {
        this.aborted++;
        throw e;
      }
      results.push({
        text: pieces.join(''),
        finishReason: this.finishReason,
        promptTokens: prompt,
        completionTokens: pieces.length,
      });
    }
    return results;
  }

  /** `fit` runs before the first piece, as the real engine checks the context before its prefill. */
  private stream(pieces: string[], prompt: number, signal?: AbortSignal, fit = () => {}): GenerationStream {
    let settle!: { resolve: (r: GenerationResult) => void; reject: (e: Error) => void };
    const result = new Promise<GenerationResult>((resolve, reject) => (settle = { resolve, reject }));
    let sent = 0;
    let finished = false;
    const finish = (reason: GenerationFinish) => {
      finished = true;
      settle.resolve({
        text: pieces.slice(0, sent).join(''),
        finishReason: reason,
        promptTokens: prompt,
        completionTokens: sent,
      });
    };
    const engine = this;
    const iterator: AsyncIterator<StreamPiece> = {
      async next() {
        if (finished) return { done: true, value: undefined };
        if (sent === 0) {
          try {
            fit();
          } catch (e) {
            finished = true;
            settle.reject(e as Error);
            throw e;
          }
        }
        try {
          await engine.tick(signal);
        } catch (e) {
          finished = true;
          engine.aborted++;
          settle.reject(e as Error);
          throw e;
        }
        if (sent === engine.failAt) {
          finished = true;
          const e = new Error('the engine exploded');
          settle.reject(e);
          throw e;
        }
        if (sent >= pieces.length) {
          finish(engine.finishReason);
          return { done: true, value: undefined };
        }
        return { done: false, value: { text: pieces[sent++]!, tokenId: sent } };
      },
      async return() {
        if (!finished) {
          engine.brokenOff++;
          finish('stop');
        }
        return { done: true, value: undefined };
      },
    };
    return { result, [Symbol.asyncIterator]: () => iterator };
  }

  private tick(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal.reason));
    if (this.delayMs === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortError(signal?.reason));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, this.delayMs);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function promptTokens(messages: readonly Message[]): number {
  return messages.reduce((s, m) => s + m.content.length, 0);
}
