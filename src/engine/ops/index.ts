// One file per op family; each keeps its forward and backward side by side.
export * from './activation.js';
export * from './attention.js';
export * from './cross-entropy.js';
export * from './dropout.js';
export * from './elementwise.js';
export * from './embedding.js';
export * from './grad-clip.js';
export * from './lora.js';
export * from './matmul.js';
export * from './norm.js';
export * from './optimizer.js';
export * from './random.js';
export * from './reduce.js';
export * from './rope.js';
export * from './rope-config.js';
export * from './sum-squares.js';
