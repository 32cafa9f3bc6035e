/** What every route handler gets: the engine, the public settings, the admission queue. */
import type { ChatEngine } from '../infer/chat-engine.js';
import { notAllowed } from './errors.js';
import type { RequestQueue } from './request-queue.js';

export interface ServerSettings {
  /** Reported by GET /v1/models (LLaMA-Factory: API_MODEL_NAME, default gpt-3.5-turbo). */
  modelName: string;
  /** When set, every /v1 request needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Generations running at once (the CPU engine runs one at a time best). */
  maxConcurrent: number;
  /** Requests that may wait for a slot before new ones get 429. */
  maxWaiting: number;
  /** Largest request body accepted; larger ones get 413 (default DEFAULT_MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  /** Serves the knowledge bases in this folder under /v1/kb (kb-routes.ts); unset: no /v1/kb routes. */
  kbRoot?: string;
}

/** 16 MiB: room for a long context's worth of text in JSON, far below what would strain the server's memory. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface ServerContext {
  engine: ChatEngine;
  settings: ServerSettings;
  queue: RequestQueue;
}

export function requireGenerator(engine: ChatEngine): void {
  if (!engine.canGenerate) {
    throw notAllowed(
      'This server runs a reward model: it scores texts (POST /v1/score/evaluation) and cannot generate.',
    );
  }
}
