/** `lmforge export`: merged Hugging Face checkpoints (LoRA merged, sharded safetensors, tokenizer, Modelfile). */
export { type ExportArgs, type InferDtype, type ParsedExportArgs, parseExportArgs } from './export-args.js';
export { exportDtype, type FloatDType } from './export-dtype.js';
export {
  ExportError,
  type ExportHooks,
  type ExportProgress,
  type ExportResult,
  exportModel,
  MODELFILE,
} from './export-model.js';
export { type HubTarget, HubUploadError, hubTarget, uploadExport } from './hub-upload.js';
export { ExportTargetError, publishExport } from './publish.js';
export { baseQuantization, QuantizedMergeError, refuseQuantizedMerge } from './quantized-base.js';
