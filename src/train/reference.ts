/**
 * The frozen reference the preference stages (dpo, kto) and ppo compare the policy with.
 */
import type { TrainArgs } from '../hparams/index.js';
import type { Reference } from './dpo.js';
import { commaList, loadFrozenModel } from './run-setup.js';

/**
 * create_ref_model: ref_model (+ ref_model_adapters) when given, else the LoRA policy with its adapter disabled, else
 * a frozen copy of the model being tuned (with its adapters). DPO, KTO and PPO share it.
 */
export async function createReference(
  args: TrainArgs,
  ctx: { storage: 'f32' | 'bf16' | 'f16'; log: (message: string) => void },
): Promise<Reference> {
  const { finetuning: fa, model: ma } = args;
  let dir: string;
  let adapters: string[];
  if (fa.ref_model) {
    dir = fa.ref_model;
    adapters = commaList(fa.ref_model_adapters);
  } else if (fa.finetuning_type === 'lora') {
    ctx.log('reference model: the policy with its LoRA adapter disabled');
    return { kind: 'adapter-disabled' };
  } else {
    dir = ma.model_name_or_path as string;
    adapters = [...(ma.adapter_name_or_path ?? [])];
  }
  const ref = await loadFrozenModel(dir, adapters, ctx.storage);
  ctx.log(`reference model: ${dir}${adapters.length > 0 ? ` + ${adapters.join(', ')}` : ''} (frozen)`);
  return { kind: 'model', model: ref };
}
