/**
 * The contract between the faces (API server, CLI chat, web board, evaluation) and whatever generates text.
 * The faces only ever talk to a model through this interface, asynchronously: the implementation over the real
 * model runs generation off the event loop (a worker thread) and honours AbortSignal, so one slow request never
 * blocks another and a disconnected client stops costing compute.
 *
 * Messages use the data layer's roles (`function` = an assistant's tool calls serialised as LLaMA-Factory does,
 * `observation` = a tool's result), so templates format served conversations exactly as they format training data.
 */
import type { Message } from '../data/converters.js';
import type { TokenLogprob } from './logprobs.js';

export type { Message, Role } from '../data/converters.js';
export type { TokenLogprob, TopLogprob } from './logprobs.js';

/** OpenAI's response_format, beyond plain text: any JSON object, or a value valid against a JSON Schema. */
export type ResponseFormat = { type: 'json_object' } | { type: 'json_schema'; schema: Record<string, unknown> };

/** A function the model may call, as OpenAI's `tools[].function` describes it. */
export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON Schema of the arguments object. */
  parameters?: Record<string, unknown>;
}

/** One call the model asked for; `arguments` is the JSON text of the arguments object, as OpenAI returns it. */
export interface ToolCall {
  name: string;
  arguments: string;
}

export interface GenerationOptions {
  /** 0 means greedy decoding (LLaMA-Factory turns sampling off when the temperature is 0). */
  temperature?: number;
  topP?: number;
  /** Most new tokens; undefined = the engine's default (its generation config), capped by the context left. */
  maxTokens?: number;
  /**
   * Generation ends before the first occurrence of any of these strings (which is not part of the text). The
   * engine should stop early when it sees one; callers that must be sure cut the text again with `StopStringFilter`.
   */
  stop?: string[];
  /** Number of independent choices (chat/complete only; streaming yields one). */
  n?: number;
  seed?: number;
  tools?: ToolDefinition[];
  /** System prompt; undefined = the template's default system. */
  system?: string;
  /** Report each generated token's logprob with this many most likely alternatives (0..20); undefined = none. */
  logprobs?: number;
  /** OpenAI's presence_penalty (-2..2, over generated tokens); 0 = off. */
  presencePenalty?: number;
  /** OpenAI's frequency_penalty (-2..2, over generated tokens); 0 = off. */
  frequencyPenalty?: number;
  /** HF's repetition_penalty (> 0, over prompt and generated tokens); undefined = the model's default. */
  repetitionPenalty?: number;
  /** Grammar-constrained decoding: the text is JSON of this format (EOS only once the value is complete). */
  responseFormat?: ResponseFormat;
}

/** Why generation ended: `stop` = EOS or a stop string, `length` = maxTokens or the context limit. */
export type GenerationFinish = 'stop' | 'length';

/** Finish reasons a face reports: `tool_calls` when `extractToolCalls` found calls in the text. */
export type FinishReason = GenerationFinish | 'tool_calls';

/**
 * One generated token as it is decoded. `text` is what this token adds to the decoded text (it may be '' while a
 * multi-byte character is incomplete), so concatenating every piece's text gives the completion.
 */
export interface StreamPiece {
  text: string;
  tokenId?: number;
  /** With `logprobs` requested: this token's (absent for the stop token). */
  logprob?: TokenLogprob;
}

export interface GenerationResult {
  text: string;
  finishReason: GenerationFinish;
  promptTokens: number;
  completionTokens: number;
  /** With `logprobs` requested: one entry per generated token (the stop token excluded). */
  logprobs?: TokenLogprob[];
}

/**
 * A generation in progress: iterate it (once) for the pieces, then await `result` for the totals.
 * - Breaking out of the iteration ends the generation early (the caller found a stop string): `result` resolves
 *   with finishReason 'stop' and the tokens generated so far.
 * - Aborting the signal ends it too: the iteration throws an AbortError and `result` rejects with it.
 */
export interface GenerationStream extends AsyncIterable<StreamPiece> {
  readonly result: Promise<GenerationResult>;
}

export interface ChatEngine {
  /** Name of the loaded model (a path or hub id); the API reports its own public name. */
  readonly modelName: string;
  /** False for reward models (value head): they score, they do not generate. */
  readonly canGenerate: boolean;
  /**
   * Prompt + new tokens at most (max_model_len), when the engine knows it. Requests beyond it reject with a
   * ContextLengthError (context-limit.ts); one without maxTokens stops at the context.
   */
  readonly maxModelLen?: number;
  /** Streams one answer to `messages` (the last one is the user's or a tool's turn). */
  streamChat(messages: readonly Message[], opts: GenerationOptions, signal?: AbortSignal): GenerationStream;
  /** `opts.n` answers (default 1), each with its own finish reason; promptTokens is the same for all. */
  chat(messages: readonly Message[], opts: GenerationOptions, signal?: AbortSignal): Promise<GenerationResult[]>;
  /** Raw continuation of `prompt`, no chat template; `opts.n` results. */
  complete(prompt: string, opts: GenerationOptions, signal?: AbortSignal): Promise<GenerationResult[]>;
  /** Streams one raw continuation of `prompt`. */
  streamComplete(prompt: string, opts: GenerationOptions, signal?: AbortSignal): GenerationStream;
  /** One vector per text: the last hidden state (after the final norm) mean-pooled over the text's tokens. */
  embed(texts: readonly string[], signal?: AbortSignal): Promise<EmbeddingResult>;
  /** Reward models only: the value head's score at each text's last token. */
  score?(texts: readonly string[], opts: { maxLength?: number }, signal?: AbortSignal): Promise<number[]>;
  /**
   * The tool calls in a generated text, parsed the way the model's template writes them, or null when the text is
   * a plain answer.
   */
  extractToolCalls(text: string, tools?: readonly ToolDefinition[]): ToolCall[] | null;
}

export interface EmbeddingResult {
  vectors: number[][];
  promptTokens: number;
}

/** The error an engine rejects with when its signal aborts (DOMException's name, so both read the same). */
export function isAbortError(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

export function abortError(reason?: unknown): Error {
  const err = new Error(typeof reason === 'string' ? reason : 'The generation was aborted.');
  err.name = 'AbortError';
  return err;
}
