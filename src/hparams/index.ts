/** Arguments: LLaMA-Factory's names, types, defaults and rules, from YAML/JSON files or flags. */

export { CHAT_ARGS, INSPECT_ARGS, KB_ARGS, SERVER_ARGS, TOKENIZER_ARGS, WEBUI_ARGS } from './command-args.js';
export { DATA_ARGS, type DataArgs } from './data-args.js';
export { didYouMean, editDistance } from './did-you-mean.js';
export { HparamsError } from './errors.js';
export { EVALUATION_ARGS, type EvaluationArgs } from './evaluation-args.js';
export { FINETUNING_ARGS, type FinetuningArgs, PREDICT_METRICS, type PredictMetric } from './finetuning-args.js';
export { GENERATING_ARGS, type GeneratingArgs, samplingOptions } from './generating-args.js';
export { formatDefault, formatHelp } from './help.js';
export { type ComputeDtype, MODEL_ARGS, type ModelArgs, quantizationOf } from './model-args.js';
export {
  API_GROUPS,
  CHAT_GROUPS,
  DATA_GROUPS,
  EVAL_GROUPS,
  type GroupSet,
  givenOnCommandLine,
  INFER_GROUPS,
  KB_GROUPS,
  parseCommandArgs,
  type RawArgs,
  readArgs,
  TOKENIZER_GROUPS,
  TRAIN_GROUPS,
  type TypedArgs,
  type TypeOptions,
  typeArgs,
  WEBUI_GROUPS,
} from './parser.js';
export { type ArgGroup, type ArgKind, type ArgSpec, ArgValueError, type ArgValues, defaultsOf } from './spec.js';
export { checkTrainArgs, parseTrainArgs, SUPPORTED_TRACKERS, type TrainArgs } from './train-args.js';
export {
  ADAMW_OPTIMIZERS,
  LR_SCHEDULER_TYPES,
  type LrSchedulerType,
  TRAINING_ARGS,
  type TrainingArgs,
} from './training-args.js';
export { trainingArgsYaml, writeTrainingArgsYaml } from './training-args-yaml.js';
