/** lmforge's library API. */
export * from './data/index.js';
export * from './data/template/index.js';
export * from './engine/index.js';
export * from './eval/index.js';
export * from './hparams/index.js';
export * from './infer/chat-args.js';
export * from './infer/chat-engine.js';
export { ChatModel, type ChatModelOptions } from './infer/chat-model.js';
export { type ChatModelArgs, ChatModelError } from './infer/chat-runner.js';
export * from './infer/generate.js';
export * from './infer/incremental-decoder.js';
export * from './infer/stop-strings.js';
export * from './io/index.js';
export * from './models/causal-lm.js';
export * from './server/index.js';
export * from './tokenizer/index.js';
export * from './train/index.js';
export * from './train/optimizers.js';
