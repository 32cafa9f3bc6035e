// One file per op family; each keeps its forward and backward side by side.
export * from './elementwise.js';
export * from './matmul.js';
