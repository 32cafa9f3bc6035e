/** The dataset pipeline up to aligned records: dataset_info.json, loaders, hub downloads, converters, mixing. */

export * from './collator.js';
export * from './converters.js';
export * from './dataset.js';
export * from './dataset-info.js';
export * from './errors.js';
export * from './hub.js';
export * from './loaders.js';
export * from './mix.js';
export * from './preprocess.js';
export * from './processors/index.js';
export * from './random.js';
export * from './report.js';
export * from './split-files.js';
export * from './token-store.js';
