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

/** LoRA+ (loraplus_lr_ratio, loraplus_lr_embedding): lora_B learns `ratio` times faster than lora_A. */
export interface LoraPlus {
  ratio: number;
  embeddingLr: number;
}

/**
 * optim (adamw_* or sgd) over the trainable weights, weight decay off for biases and norms as HF groups them. With
 * LoRA+, LLaMA-Factory's _create_loraplus_optimizer groups instead: lora_A and other weights at learning_rate;
 * lora_B and 1-D weights at learning_rate * ratio (with or without decay); LoRA embedding B at loraplus_lr_embedding.
 */
export function createOptimizer(
  trainable: readonly [string, Tensor][],
  ta: TrainArgs['training'],
  loraPlus: LoraPlus | null = null,
): AdamW | SGD {
  const decay = trainable.filter(([n]) => !noDecay(n)).map(([, t]) => t);
  const noDecayParams = trainable.filter(([n]) => noDecay(n)).map(([, t]) => t);
  const groups = (
    loraPlus === null
      ? [
          { params: decay, weightDecay: ta.weight_decay },
          { params: noDecayParams, weightDecay: 0 },
        ]
      : loraPlusGroups(trainable, ta, loraPlus)
  ).filter((g) => g.params.length > 0);
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

function loraPlusGroups(trainable: readonly [string, Tensor][], ta: TrainArgs['training'], lp: LoraPlus) {
  const lr = ta.learning_rate;
  const wd = ta.weight_decay;
  const a: Tensor[] = [];
  const b: Tensor[] = [];
  const bNoDecay: Tensor[] = [];
  const embedding: Tensor[] = [];
  for (const [name, t] of trainable) {
    if (name.includes('lora_embedding_B')) embedding.push(t);
    else if (name.includes('lora_B') || t.ndim === 1) (noDecay(name) ? bNoDecay : b).push(t);
    else a.push(t);
  }
  return [
    { params: a, lr, weightDecay: wd },
    { params: b, lr: lr * lp.ratio, weightDecay: wd },
    { params: bNoDecay, lr: lr * lp.ratio, weightDecay: 0 },
    { params: embedding, lr: lp.embeddingLr, weightDecay: wd },
  ];
}

/**
 * Sets each group's learning rate for a step as LambdaLR does: the group's initial rate times the schedule's factor
 * (`lr / baseLr`). Groups that start at the base rate get `lr` itself, bit for bit.
 */
export function applyScheduledLr(groups: { lr: number }[], initialLrs: readonly number[], baseLr: number, lr: number) {
  groups.forEach((g, i) => {
    const initial = initialLrs[i] as number;
    g.lr = initial === baseLr ? lr : baseLr === 0 ? 0 : initial * (lr / baseLr);
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
  // Without adapters (merged into, or read by, the f32 base), the weights load straight into the storage dtype: no
  // f32 copy at the loading peak, and the same conversion castFrozen makes.
  const model = await loadModel(dir, {
    ...(adapters.length > 0 ? { adapter: [...adapters] } : {}),
    ...(storage !== 'f32' && adapters.length === 0 ? { dtype: storage } : {}),
  });
  model.freezeAll();
  if (storage !== 'f32') model.castFrozen(storage);
  model.eval();
  return model;
}
