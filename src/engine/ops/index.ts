// One file per op family; each keeps its forward and backward side by side.
export * from './attention.js';
export * from './cross-entropy.js';
export * from './elementwise.js';
