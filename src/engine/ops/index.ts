// One file per op family; each keeps its forward and backward side by side.
export * from './activation.js';
export * from './elementwise.js';
export * from './embedding.js';
export * from './norm.js';
export * from './reduce.js';
export * from './rope.js';
export * from './rope-config.js';
