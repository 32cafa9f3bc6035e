/** lmforge's library API. */
export * from './data/index.js';
export * from './data/template/index.js';
export * from './engine/index.js';
export * from './hparams/index.js';
export * from './io/index.js';
export * from './tokenizer/index.js';
export * from './train/index.js';
