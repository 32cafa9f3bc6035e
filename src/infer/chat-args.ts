/**
 * Inference arguments from the command line or a YAML file, with LLaMA-Factory's names (the same file a training
 * run used works: model_name_or_path, adapter_name_or_path, template, default_system, enable_thinking, infer_dtype
 * and the generating arguments), turned into ChatModelArgs.
 */

import type { GeneratingArgs } from '../hparams/generating-args.js';
import {
  type GroupSet,
  givenOnCommandLine,
  HparamsError,
  INFER_GROUPS,
  type ModelArgs,
  parseCommandArgs,
  quantizationOf,
} from '../hparams/index.js';
import type { ChatModelArgs } from './chat-runner.js';
import { trainedOutputChoice } from './trained-output.js';

export interface InferArgs {
  model: ChatModelArgs;
  /** One line per argument the user set that has no effect here. */
  notes: string[];
  /** With a training YAML: which weights the chat uses (its output_dir's, or the base while there are none). */
  loaded?: string;
  /** Every group's typed values, the command's own groups (chat, server) included. */
  groups: Record<string, Record<string, unknown>>;
}

/**
 * Reads `cfg.yaml [key=value ...]` or `--key value ...` with `groups` (INFER_GROUPS plus a command's own). Training
 * keys in a reused training YAML (dataset, learning_rate, ...) are skipped, as LLaMA-Factory's chat ignores them.
 */
export function parseInferArgs(argv: readonly string[], groups: GroupSet = INFER_GROUPS, command = 'chat'): InferArgs {
  const typed = parseCommandArgs(argv, groups, { command });
  // A training YAML's output_dir holds what its run trained: the chat uses that (trainedOutputChoice).
  const outputDir = typeof typed.skipped.output_dir === 'string' ? typed.skipped.output_dir : null;
  const model = typed.groups.model as Record<string, unknown>;
  const data = typed.groups.data as Record<string, unknown>;
  const finetuning = typed.groups.finetuning as Record<string, unknown>;
  if (!model.model_name_or_path)
    throw new HparamsError(['model_name_or_path is required: --model_name_or_path <model folder> (or in the YAML)']);
  if (finetuning.finetuning_type !== 'lora' && model.adapter_name_or_path)
    throw new HparamsError(['adapter_name_or_path needs finetuning_type: lora (only LoRA adapters can be loaded)']);
  let quantization: ChatModelArgs['quantization'];
  try {
    quantization = quantizationOf(model as unknown as ModelArgs);
  } catch (e) {
    throw new HparamsError([(e as Error).message]);
  }
  let modelPath = model.model_name_or_path as string;
  let adapters = (model.adapter_name_or_path as string[] | null) ?? null;
  let loaded: string | undefined;
  // An adapter named on the command line is the user's choice; only the YAML's own say gives way to its result.
  if (
    outputDir &&
    !givenOnCommandLine(argv, 'adapter_name_or_path') &&
    !givenOnCommandLine(argv, 'model_name_or_path')
  ) {
    const choice = trainedOutputChoice({
      outputDir,
      modelNameOrPath: modelPath,
      adapters,
      finetuningType: finetuning.finetuning_type as string,
      createNewAdapter: finetuning.create_new_adapter === true,
    });
    modelPath = choice.modelNameOrPath;
    adapters = choice.adapters;
    loaded = choice.message;
  }
  return {
    model: {
      model_name_or_path: modelPath,
      ...(quantization ? { quantization } : {}),
      adapter_name_or_path: adapters,
      template: (data.template as string | null) ?? null,
      default_system: (data.default_system as string | null) ?? null,
      enable_thinking: data.enable_thinking as boolean,
      tool_format: (data.tool_format as string | null) ?? null,
      infer_dtype: model.infer_dtype as ChatModelArgs['infer_dtype'] & string,
      generating: typed.groups.generating as GeneratingArgs,
      resize_vocab: model.resize_vocab === true,
      add_tokens: (model.add_tokens as string[] | null) ?? null,
      add_special_tokens: (model.add_special_tokens as string[] | null) ?? null,
    },
    notes: typed.notes,
    ...(loaded === undefined ? {} : { loaded }),
    groups: typed.groups,
  };
}
