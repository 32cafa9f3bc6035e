/**
 * `lmforge export` arguments: LLaMA-Factory's get_infer_args groups (model, data, finetuning, generating) read from
 * a YAML file and/or flags, checked the way its export_model checks them, and narrowed to what an export reads.
 * An export YAML is a file of its own (examples/merge_lora), so an unknown key there is an error, not ignored.
 */
import { resolve } from 'node:path';
import { HparamsError, INFER_GROUPS, parseCommandArgs } from '../hparams/index.js';
import { GGUF_TYPES, type GgufType } from './gguf/write-gguf.js';

export type InferDtype = 'auto' | 'float16' | 'bfloat16' | 'float32';

export interface ExportArgs {
  model_name_or_path: string;
  /** Merged into the weights in the order given. */
  adapter_name_or_path: string[] | null;
  template: string | null;
  default_system: string | null;
  enable_thinking: boolean | null;
  tool_format: string | null;
  /** `rm` copies the reward model's value head into the export. */
  stage: string;
  export_dir: string;
  /** Gigabytes (10^9 bytes) per safetensors shard. */
  export_size: number;
  infer_dtype: InferDtype;
  export_hub_model_id: string | null;
  hf_hub_token: string | null;
  export_format: 'hf' | 'gguf';
  gguf_type: GgufType;
  /** On-the-fly quantization of the base (LLaMA-Factory's quantization_bit): a merge into it is refused. */
  quantization_bit: number | null;
  /** LLaMA-Factory's vocabulary growth, given again for an adapter trained with it (see ChatModelArgs). */
  resize_vocab?: boolean;
  add_tokens?: string[] | null;
  add_special_tokens?: string[] | null;
}

export interface ParsedExportArgs {
  args: ExportArgs;
  /** One line per argument the user set that has no effect here. */
  notes: string[];
  /** Every group's typed values (as the other commands' parsers return them). */
  groups: Record<string, Record<string, unknown>>;
}

export function parseExportArgs(argv: readonly string[]): ParsedExportArgs {
  const typed = parseCommandArgs(argv, INFER_GROUPS, { command: 'export' });
  const model = typed.groups.model as Record<string, unknown>;
  const data = typed.groups.data as Record<string, unknown>;
  const finetuning = typed.groups.finetuning as Record<string, unknown>;
  const problems: string[] = [];
  if (!model.model_name_or_path)
    problems.push('model_name_or_path is required: the base model folder (--model_name_or_path <folder>)');
  if (!model.export_dir)
    problems.push('export_dir is required: the folder to write the exported model to (--export_dir <folder>)');
  const adapters = (model.adapter_name_or_path as string[] | null) ?? null;
  if (adapters && finetuning.finetuning_type !== 'lora')
    problems.push(
      `adapter_name_or_path needs finetuning_type: lora (got ${finetuning.finetuning_type}); only LoRA adapters merge`,
    );
  const size = model.export_size as number;
  if (!(size > 0) || !Number.isFinite(size))
    problems.push(`export_size must be a positive number of GB per shard (e.g. 5 or 0.5), got ${size}`);
  if (model.export_legacy_format === true)
    problems.push(
      'export_legacy_format: true asks for PyTorch .bin pickles; lmforge writes safetensors only (which ' +
        'transformers, vLLM and llama.cpp read): remove it or set export_legacy_format: false',
    );
  if (model.export_quantization_bit !== null)
    problems.push(
      adapters
        ? 'export_quantization_bit with adapter_name_or_path: merge the adapters first (export without ' +
            'export_quantization_bit), then quantize the merged model; GPTQ quantization is not implemented here either'
        : 'export_quantization_bit (GPTQ quantization on export) is not implemented: remove it to export the ' +
            'model in float16/bfloat16/float32',
    );
  if (
    model.model_name_or_path &&
    model.export_dir &&
    samePath(model.export_dir as string, model.model_name_or_path as string)
  )
    problems.push('export_dir must differ from model_name_or_path: the export would overwrite the model it reads');
  const ggufType = model.gguf_type as string;
  if (model.export_format === 'gguf' && !(GGUF_TYPES as readonly string[]).includes(ggufType))
    problems.push(
      `gguf_type ${ggufType} is not written (choose one of ${GGUF_TYPES.join(', ')}), or export_format: hf and ` +
        'quantize with llama.cpp',
    );
  for (const a of adapters ?? [])
    if (model.export_dir && samePath(model.export_dir as string, a))
      problems.push(`export_dir must differ from the adapter folder ${a}: the export would overwrite it`);
  if (problems.length > 0) throw new HparamsError(problems);
  return {
    args: {
      model_name_or_path: model.model_name_or_path as string,
      adapter_name_or_path: adapters,
      template: (data.template as string | null) ?? null,
      default_system: (data.default_system as string | null) ?? null,
      enable_thinking: data.enable_thinking as boolean | null,
      tool_format: (data.tool_format as string | null) ?? null,
      stage: finetuning.stage as string,
      export_dir: model.export_dir as string,
      export_size: size,
      infer_dtype: model.infer_dtype as InferDtype,
      export_hub_model_id: (model.export_hub_model_id as string | null) ?? null,
      hf_hub_token: (model.hf_hub_token as string | null) ?? null,
      quantization_bit: (model.quantization_bit as number | null) ?? null,
      export_format: model.export_format as 'hf' | 'gguf',
      gguf_type: ggufType as GgufType,
      resize_vocab: model.resize_vocab === true,
      add_tokens: (model.add_tokens as string[] | null) ?? null,
      add_special_tokens: (model.add_special_tokens as string[] | null) ?? null,
    },
    notes: typed.notes,
    groups: typed.groups,
  };
}

function samePath(a: string, b: string): boolean {
  return resolve(a) === resolve(b);
}
