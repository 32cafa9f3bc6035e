/** lmforge's library API. */

export * from './data/template/index.js';
export * from './engine/index.js';
export * from './tokenizer/index.js';
