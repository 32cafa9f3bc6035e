/** Shared by the export tests: adapters trained for real on the tiny bundled model, and logits of a model. */
import { join } from 'node:path';
import { noGrad, scope } from '../../src/engine/index.js';
import type { ExportArgs } from '../../src/export/index.js';
import type { CausalLM } from '../../src/models/causal-lm.js';
import { train } from '../../src/train/trainer.js';
import { tempDir } from '../util/tokenizers.js';

export const TINY = 'examples/tiny/base';
export const quiet = () => {};

/** A LoRA SFT of the quick start, a few real optimizer steps (lr 3e-3: the adapter's B leaves zero at step 1). */
export async function trainedAdapter(seed: number, extra: string[] = []): Promise<string> {
  const dir = join(tempDir('export-adapter'), 'lora');
  await train(
    [
      'examples/quickstart.yaml',
      'max_steps=3',
      'warmup_ratio=0',
      `seed=${seed}`,
      `output_dir=${dir}`,
      'overwrite_output_dir=true',
      'plot_loss=false',
      'save_steps=1000',
      'logging_steps=1000',
      ...extra,
    ],
    { progress: false, log: quiet },
  );
  return dir;
}

/** A reward model's LoRA + value head (stage rm), a few real steps. */
export async function trainedRewardAdapter(): Promise<string> {
  const dir = join(tempDir('export-reward'), 'rm');
  await train(
    [
      'examples/train_lora/tiny_lora_reward.yaml',
      'max_steps=2',
      `output_dir=${dir}`,
      'plot_loss=false',
      'save_steps=1000',
      'logging_steps=1000',
    ],
    { progress: false, log: quiet },
  );
  return dir;
}

/** Export arguments with LLaMA-Factory's defaults for everything not given. */
export function exportArgs(over: Partial<ExportArgs> & Pick<ExportArgs, 'export_dir'>): ExportArgs {
  return {
    model_name_or_path: TINY,
    adapter_name_or_path: null,
    template: 'qwen',
    default_system: '',
    enable_thinking: true,
    tool_format: null,
    stage: 'sft',
    export_size: 5,
    infer_dtype: 'auto',
    export_hub_model_id: null,
    hf_hub_token: null,
    quantization_bit: null,
    export_format: 'hf',
    gguf_type: 'f16',
    ...over,
  };
}

/** Token ids covering the vocabulary's ends and the chat tokens, two rows. */
export const INPUT = {
  inputIds: {
    data: Int32Array.from([8190, 872, 198, 3000, 7000, 8191, 198, 8190, 12, 8000, 45, 900, 4096, 8189, 1, 77]),
    shape: [2, 8] as [number, number],
  },
};

export function logitsOf(model: CausalLM): Float32Array {
  return scope(() => noGrad(() => model.forward(INPUT).logits.toFloat32Array()));
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}
