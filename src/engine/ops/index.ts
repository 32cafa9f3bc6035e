// One file per op family; each keeps its forward and backward side by side.
export * from './dropout.js';
export * from './elementwise.js';
export * from './grad-clip.js';
export * from './optimizer.js';
export * from './random.js';
export * from './sum-squares.js';
