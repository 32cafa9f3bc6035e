/**
 * What every training loop builds the same way (the update loop of trainer.ts and the PPO loop of ppo.ts): the
 * optimizer with HF's weight-decay groups, the LR schedule, frozen helper models (a reference or reward model), and
 * the error type users see without a stack trace.
 */
import type { Tensor } from '../engine/index.js';
import type { TrainArgs } from '../hparams/index.js';
import { type CausalLM, loadModel } from '../models/causal-lm.js';
import { AdamW, SGD } from './optimizers.js';
import { getWarmupSteps, LrScheduler } from './schedulers.js';

/** A user mistake or a condition the user must act on: printed without a stack trace by the CLI. */
export class TrainError extends Error {
  readonly userFacing = true;
}

/** HF's get_decay_parameter_names: no weight decay for biases and normalization weights. */
export function noDecay(name: string): boolean {
  return /bias$/.test(name) || /(?:^|\.)norm(?:$|\.)|_norm(?:$|\.)|layernorm|rmsnorm/.test(name);
}

/** optim (adamw_* or sgd) over the trainable weights, weight decay off for biases and norms as HF groups them. */
export function createOptimizer(trainable: readonly [string, Tensor][], ta: TrainArgs['training']): AdamW | SGD {
  const decay = trainable.filter(([n]) => !noDecay(n)).map(([, t]) => t);
  const noDecayParams = trainable.filter(([n]) => noDecay(n)).map(([, t]) => t);
  const groups = [
    { params: decay, weightDecay: ta.weight_decay },
    { params: noDecayParams, weightDecay: 0 },
  ].filter((g) => g.params.length > 0);
  return ta.optim === 'sgd'
    ? new SGD(groups, { lr: ta.learning_rate, weightDecay: ta.weight_decay })
    : new AdamW(groups, {
        lr: ta.learning_rate,
        beta1: ta.adam_beta1,
        beta2: ta.adam_beta2,
        eps: ta.adam_epsilon,
        weightDecay: ta.weight_decay,
      });
}

/** lr_scheduler_type over `totalSteps` optimizer-schedule steps, with warmup_steps / warmup_ratio resolved. */
export function createScheduler(totalSteps: number, ta: TrainArgs['training']): LrScheduler {
  return new LrScheduler({
    type: ta.lr_scheduler_type,
    baseLr: ta.learning_rate,
    totalSteps,
    warmupSteps: getWarmupSteps(totalSteps, ta.warmup_steps, ta.warmup_ratio),
    kwargs: ta.lr_scheduler_kwargs ?? {},
  });
}

/** A comma-separated argument (ref_model_adapters, reward_model_adapters) as a list; empty when unset. */
export function commaList(value: string | null | undefined): string[] {
  return value ? value.split(',').map((x) => x.trim()) : [];
}

/**
 * A model that only scores (a reference or reward model): loaded with its adapters merged, every weight frozen and
 * stored in the run's frozen-weight dtype, in eval mode.
 */
export async function loadFrozenModel(
  dir: string,
  adapters: readonly string[],
  storage: 'f32' | 'bf16' | 'f16',
): Promise<CausalLM> {
  const model = await loadModel(dir, adapters.length > 0 ? { adapter: [...adapters] } : {});
  model.freezeAll();
  if (storage !== 'f32') model.castFrozen(storage);
  model.eval();
  return model;
}
