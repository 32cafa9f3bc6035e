/** Checkpoint I/O: safetensors files, HF checkpoint folders and model configs, PEFT LoRA adapters. */
export { syncFolder, withAtomicFile, writeFileAtomic, writeJsonAtomic } from './atomic.js';
export {
  CheckpointReader,
  type CheckpointTensorInfo,
  DEFAULT_MAX_SHARD_SIZE,
  INDEX_FILE,
  parseShardSize,
  planShards,
  type SaveCheckpointOptions,
  type SavedCheckpoint,
  type ShardPlan,
  SINGLE_FILE,
  saveCheckpoint,
  shardFileName,
} from './checkpoint.js';
export { FormatError } from './errors.js';
export {
  type Architecture,
  expectedParameters,
  isIgnorableCheckpointTensor,
  type ModelConfig,
  parseModelConfig,
  type RopeScaling,
  readModelConfig,
  type SlidingWindow,
  SUPPORTED_ARCHITECTURES,
  toHfConfigJson,
} from './model-config.js';
export { checkParameters, formatParameterReport, type ParameterReport } from './param-check.js';
export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  isTargetModule,
  LoraAdapter,
  type LoraConfig,
  loraConfig,
  loraParamsFor,
  PEFT_PREFIX,
  type PeftKey,
  parseLoraConfig,
  parsePeftKey,
  peftLiveKey,
  peftLiveToSaved,
  peftSavedKey,
  readLoraConfig,
  saveLoraAdapter,
  toAdapterConfigJson,
} from './peft.js';
export {
  type LoadOptions,
  type NamedTensors,
  planSafetensors,
  SAFETENSORS_DTYPES,
  type SafetensorsDType,
  SafetensorsFile,
  type TensorInfo,
  type WriteOptions,
  withSafetensors,
  writeSafetensors,
} from './safetensors.js';
