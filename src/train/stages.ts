/**
 * Picks the stage for `finetuning.stage` and builds what it needs: the reward model's value head, the DPO/KTO
 * reference (LLaMA-Factory's create_ref_model rules: ref_model when given, else the LoRA policy with its adapter
 * disabled, else a frozen copy of the model being tuned).
 */
import type { CollatorOptions } from '../data/collator.js';
import type { TrainArgs } from '../hparams/index.js';
import type { CausalLM } from '../models/causal-lm.js';
import { dpoStage, type Reference } from './dpo.js';
import { ktoStage } from './kto.js';
import { type PreferenceLossType, usesReferenceModel } from './preference-loss.js';
import { rewardModelStage, ValueHead } from './rm.js';
import { commaList, loadFrozenModel } from './run-setup.js';
import { sftStage } from './sft.js';
import type { Stage } from './stage.js';

export interface StageContext {
  collateOptions: CollatorOptions;
  /** Storage dtype of frozen weights (a reference model's too). */
  storage: 'f32' | 'bf16' | 'f16';
  log: (message: string) => void;
}

/** An error the user must fix in the arguments (printed without a stack trace). */
class StageArgumentError extends Error {
  readonly userFacing = true;
}

export async function createStage(args: TrainArgs, model: CausalLM, ctx: StageContext): Promise<Stage> {
  const { finetuning: fa, model: ma, training: ta } = args;
  const stage = fa.stage;
  if (stage === 'pt' || stage === 'sft') return sftStage(model, ctx.collateOptions) as Stage;
  if (stage === 'rm') {
    const dirs = [...(ma.adapter_name_or_path ?? [])].reverse().concat([ma.model_name_or_path as string]);
    const { head, from } = ValueHead.loadOrInit(dirs, model.config.hiddenSize, ta.seed);
    if (from) ctx.log(`loaded the value head from ${from}`);
    return rewardModelStage(model, { collateOptions: ctx.collateOptions, head }) as Stage;
  }
  if (stage === 'dpo' || stage === 'orpo') {
    const type = (stage === 'orpo' ? 'orpo' : fa.pref_loss) as PreferenceLossType;
    if (fa.pref_bco_weight > 1e-6 && !usesReferenceModel(type))
      ctx.log(`pref_bco_weight has no effect with pref_loss ${type} (BCO needs a reference model)`);
    const reference = usesReferenceModel(type) ? await createReference(args, ctx) : { kind: 'none' as const };
    return dpoStage(model, {
      collateOptions: ctx.collateOptions,
      loss: { type, beta: fa.pref_beta, labelSmoothing: fa.dpo_label_smoothing, simpoGamma: fa.simpo_gamma },
      ftx: fa.pref_ftx,
      bcoWeight: fa.pref_bco_weight,
      ...(fa.ld_alpha === null || fa.ld_alpha === undefined ? {} : { ldAlpha: fa.ld_alpha }),
      reference,
    }) as Stage;
  }
  if (stage === 'kto')
    return ktoStage(model, {
      collateOptions: ctx.collateOptions,
      loss: { beta: fa.pref_beta, chosenWeight: fa.kto_chosen_weight, rejectedWeight: fa.kto_rejected_weight },
      ftx: fa.pref_ftx,
      reference: await createReference(args, ctx),
    }) as Stage;
  // PPO is not a per-micro-batch objective: rollouts, rewards and PPO epochs run in their own loop (ppo.ts).
  throw new StageArgumentError(`stage '${stage}' runs in its own loop (trainPpo in src/train/ppo.ts), not as a Stage`);
}

/**
 * create_ref_model: ref_model (+ ref_model_adapters) when given, else the LoRA policy with its adapter disabled, else
 * a frozen copy of the model being tuned (with its adapters). DPO, KTO and PPO share it.
 */
export async function createReference(args: TrainArgs, ctx: Pick<StageContext, 'storage' | 'log'>): Promise<Reference> {
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
