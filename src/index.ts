/** lmforge's library API. */
export * from './engine/index.js';
export * from './hparams/index.js';
export * from './train/index.js';
