/**
 * The GaLore optimizer of a training run, grouped as LLaMA-Factory's _create_galore_optimizer groups it: the weights
 * of the Linear modules galore_target names (`all`: every Linear but lm_head, find_all_linear_modules) that are
 * trainable matrices are projected (weight_decay on); every other trainable parameter keeps HF's decay / no-decay
 * split, all stepped by GaLoreAdamW.
 */
import type { Tensor } from '../engine/index.js';
import type { TrainArgs } from '../hparams/index.js';
import type { CausalLM } from '../models/causal-lm.js';
import { allLinearModuleNames } from '../models/lora-targets.js';
import { Linear } from '../nn/linear.js';
import { GaLoreAdamW } from './galore.js';
import { noDecay, TrainError } from './run-setup.js';

export function createGaloreOptimizer(
  model: CausalLM,
  trainable: readonly [string, Tensor][],
  ta: TrainArgs['training'],
  fa: TrainArgs['finetuning'],
  log: (line: string) => void = () => {},
): GaLoreAdamW {
  if (ta.optim !== 'adamw_torch' && ta.optim !== 'adamw_hf' && ta.optim !== 'galore_adamw')
    throw new TrainError(`use_galore: optim ${ta.optim} has no GaLore variant here; use adamw_torch`);
  const targets =
    fa.galore_target.length === 1 && fa.galore_target[0] === 'all'
      ? allLinearModuleNames(model.module)
      : fa.galore_target;
  const linearWeights = new Set<Tensor>();
  for (const [path, m] of model.module.namedModules())
    if (m instanceof Linear && path !== 'lm_head' && !m.quantized && targets.some((t) => path.includes(t)))
      linearWeights.add(m.weight);
  const galore = trainable.filter(([, t]) => linearWeights.has(t) && t.ndim === 2).map(([, t]) => t);
  if (galore.length === 0)
    throw new TrainError(
      `use_galore: galore_target ${JSON.stringify(fa.galore_target)} matches no trainable linear weight (linear layers: ${allLinearModuleNames(model.module).join(', ')})`,
    );
  const projected = new Set(galore);
  const rest = trainable.filter(([, t]) => !projected.has(t));
  const groups = [
    { params: rest.filter(([n]) => noDecay(n)).map(([, t]) => t), weightDecay: 0 },
    { params: rest.filter(([n]) => !noDecay(n)).map(([, t]) => t), weightDecay: ta.weight_decay },
    { params: galore, weightDecay: ta.weight_decay },
  ].filter((g) => g.params.length > 0);
  const rank = fa.galore_rank;
  for (const [name, t] of trainable)
    if (projected.has(t) && rank > Math.min(...t.shape))
      throw new TrainError(`use_galore: galore_rank ${rank} exceeds ${name}'s size [${t.shape}]; lower galore_rank`);
  if (fa.galore_update_interval < 1)
    throw new TrainError(`use_galore: galore_update_interval must be >= 1, got ${fa.galore_update_interval}`);
  log(`GaLore: ${galore.length} weights projected to rank ${rank}, refreshed every ${fa.galore_update_interval} steps`);
  return new GaLoreAdamW(
    groups,
    projected,
    { rank, updateInterval: fa.galore_update_interval, scale: fa.galore_scale },
    { lr: ta.learning_rate, beta1: ta.adam_beta1, beta2: ta.adam_beta2, eps: ta.adam_epsilon },
    ta.seed,
  );
}
