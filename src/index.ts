/** lmforge's library API. */
export * from './engine/index.js';
export * from './eval/index.js';
export * from './infer/chat-engine.js';
export * from './infer/stop-strings.js';
export * from './io/index.js';
export * from './server/index.js';
export * from './train/optimizers.js';
