/**
 * `lmforge expand --model_name_or_path dir --output_dir out --num_expand 2`: LLaMA-Factory's scripts/llama_pro.py
 * (LLaMA Pro block expansion, src/models/llama-pro.ts), then train the new blocks with use_llama_pro: true.
 */
import { DATA_ARGS, formatHelp, MODEL_ARGS, parseCommandArgs } from '../hparams/index.js';
import { int, optStr, str } from '../hparams/spec.js';
import { expandModel } from '../models/llama-pro.js';

const EXPAND_ARGS = {
  output_dir: optStr('Where the expanded model is written.'),
  num_expand: int(1, 'How many zero-initialised blocks to insert (num_hidden_layers must be divisible by it).'),
  shard_size: str('5GB', 'The maximum size of each safetensors shard.'),
};
const GROUPS = { model: MODEL_ARGS, data: DATA_ARGS, expand: EXPAND_ARGS };

export function parseExpandArgs(argv: readonly string[]) {
  return parseCommandArgs(argv, GROUPS);
}

export async function expandCommand(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(
      formatHelp(GROUPS, 'expand', {
        only: { model: ['model_name_or_path'], data: [], expand: Object.keys(EXPAND_ARGS) },
      }),
    );
    return 0;
  }
  const { groups } = parseExpandArgs(argv);
  const model = groups.model?.model_name_or_path as string | null;
  const {
    output_dir: out,
    num_expand: numExpand,
    shard_size: shardSize,
  } = groups.expand as {
    output_dir: string | null;
    num_expand: number;
    shard_size: string;
  };
  if (!model || !out) {
    console.error('Usage: lmforge expand --model_name_or_path <dir> --output_dir <dir> --num_expand <n>');
    return 2;
  }
  const { numLayers } = expandModel(model, out, { numExpand, shardSize, log: (m) => console.error(`[lmforge] ${m}`) });
  console.error(
    `[lmforge] ${out}: ${numLayers} layers. Fine-tune it with:\n  model_name_or_path: ${out}\n  finetuning_type: freeze\n  freeze_trainable_layers: ${numExpand}\n  use_llama_pro: true`,
  );
  return 0;
}
