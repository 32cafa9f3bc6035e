/** The OpenAI-compatible API server (`lmforge api`). */
export { createApp } from './app.js';
export type { ServerContext, ServerSettings } from './context.js';
export { ApiError, invalidRequest } from './errors.js';
export { QueueFullError, type ReleaseSlot, RequestQueue } from './request-queue.js';
export {
  parseApiFlags,
  type RunningServer,
  resolveServerOptions,
  type ServerOptions,
  startApiServer,
} from './serve.js';
