/**
 * The model's public surface, one import for callers (src/index.ts, the trainer, chat): the class is in model.ts,
 * each concern in its own module (see docs/architecture.md, Models).
 */
export type { AddLoraOptions } from './adapters.js';
export type { CausalLMModule, ModelFamily } from './family.js';
export type { ForwardInput, ForwardOutput, LossOnlyInput, LossOutput, PassInput } from './forward.js';
export { createModel, type LoadModelOptions, loadModel } from './loading.js';
export { CausalLM, type ModelOrigin } from './model.js';
export { type QuantizationOptions, quantizeOptionsOf } from './quantization.js';
export { familyFor, registeredArchitectures } from './registry.js';
export { copyTokenizerFiles, type SaveModelOptions, TOKENIZER_FILES } from './saving.js';
export type { FreezeOptions } from './training-modes.js';
