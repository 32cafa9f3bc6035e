/**
 * Inference arguments from the command line or a YAML file, with LLaMA-Factory's names (the same file a training
 * run used works: model_name_or_path, adapter_name_or_path, template, default_system, enable_thinking, infer_dtype
 * and the generating arguments), turned into ChatModelArgs.
 */

import type { GeneratingArgs } from '../hparams/generating-args.js';
import { type GroupSet, HparamsError, INFER_GROUPS, parseCommandArgs } from '../hparams/index.js';
import type { ChatModelArgs } from './chat-runner.js';

export interface InferArgs {
  model: ChatModelArgs;
  /** One line per argument the user set that has no effect here. */
  notes: string[];
  /** Every group's typed values, the command's own groups (chat, server) included. */
  groups: Record<string, Record<string, unknown>>;
}

/**
 * Reads `cfg.yaml [key=value ...]` or `--key value ...` with `groups` (INFER_GROUPS plus a command's own). Training
 * keys in a reused training YAML (dataset, learning_rate, ...) are skipped, as LLaMA-Factory's chat ignores them.
 */
export function parseInferArgs(argv: readonly string[], groups: GroupSet = INFER_GROUPS, command = 'chat'): InferArgs {
  const typed = parseCommandArgs(argv, groups, { command });
  const model = typed.groups.model as Record<string, unknown>;
  const data = typed.groups.data as Record<string, unknown>;
  const finetuning = typed.groups.finetuning as Record<string, unknown>;
  if (!model.model_name_or_path)
    throw new HparamsError(['model_name_or_path is required: --model_name_or_path <model folder> (or in the YAML)']);
  if (finetuning.finetuning_type !== 'lora' && model.adapter_name_or_path)
    throw new HparamsError(['adapter_name_or_path needs finetuning_type: lora (only LoRA adapters can be loaded)']);
  return {
    model: {
      model_name_or_path: model.model_name_or_path as string,
      adapter_name_or_path: (model.adapter_name_or_path as string[] | null) ?? null,
      template: (data.template as string | null) ?? null,
      default_system: (data.default_system as string | null) ?? null,
      enable_thinking: data.enable_thinking as boolean,
      tool_format: (data.tool_format as string | null) ?? null,
      infer_dtype: model.infer_dtype as ChatModelArgs['infer_dtype'] & string,
      generating: typed.groups.generating as GeneratingArgs,
    },
    notes: typed.notes,
    groups: typed.groups,
  };
}
