/** lmforge's library API. */
export * from './engine/index.js';
export * from './io/index.js';
export * from './train/optimizers.js';
