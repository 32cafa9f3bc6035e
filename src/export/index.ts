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
export { GgufExportError, ggufArch, ggufTensorName, permuteRows } from './gguf/gguf-arch.js';
export { GGML_TYPE, type GgmlType, type GgufTensorInfo, type GgufValue, layoutGguf } from './gguf/gguf-format.js';
export { f32ToF16Bits, ggmlBytes, ggmlValues, quantizeQ8_0 } from './gguf/gguf-quantize.js';
export { checkGgufTokenizer, ggufPreTokenizer, tokenizerMetadata } from './gguf/gguf-tokenizer.js';
export { GGUF_TYPES, type GgufType, ggufFileName, ggufTensorPlan, writeGguf } from './gguf/write-gguf.js';
export { type HubTarget, HubUploadError, hubTarget, uploadExport } from './hub-upload.js';
export { ExportTargetError, publishExport } from './publish.js';
export { baseQuantization, QuantizedMergeError, refuseQuantizedMerge } from './quantized-base.js';
