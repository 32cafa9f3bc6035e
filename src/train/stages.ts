/**
 * Picks the stage for `finetuning.stage` and builds what it needs: the reward model's value head, the DPO/KTO
 * reference (reference.ts); ppo builds its own (ppo.ts). Objectives are wrapped into HF's accumulation
 * (accumulation.ts).
 */
import type { CollatorOptions } from '../data/collator.js';
import type { SupervisedRecord } from '../data/processors/types.js';
import type { Template } from '../data/template/index.js';
import type { TrainArgs } from '../hparams/index.js';
import type { CausalLM } from '../models/causal-lm.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { accumulatingStage } from './accumulation.js';
import { dpoObjective } from './dpo.js';
import { ktoObjective } from './kto.js';
import { ppoStage } from './ppo.js';
import { type PreferenceLossType, usesReferenceModel } from './preference-loss.js';
import { createReference } from './reference.js';
import { rewardModelObjective, ValueHead } from './rm.js';
import { TrainError } from './run-setup.js';
import { sftObjective } from './sft.js';
import type { Objective, Stage } from './stage.js';

export interface StageContext {
  model: CausalLM;
  tokenizer: Tokenizer;
  template: Template;
  /** Processed training records (prompts for ppo) and evaluation records. */
  trainSet: readonly unknown[];
  evalSet: readonly unknown[];
  collateOptions: CollatorOptions;
  /** Storage dtype of frozen weights (a reference or reward model's too). */
  storage: 'f32' | 'bf16' | 'f16';
  log: (message: string) => void;
  signal?: AbortSignal;
}

export async function createStage(args: TrainArgs, ctx: StageContext): Promise<Stage> {
  const { finetuning: fa, model: ma, training: ta } = args;
  const { model } = ctx;
  const accumulate = (objective: Objective) => accumulatingStage(objective as Objective, { ...ctx, args });
  const stage = fa.stage;
  if (stage === 'ppo') return ppoStage(args, { ...ctx, prompts: ctx.trainSet as SupervisedRecord[] });
  if (stage === 'pt' || stage === 'sft') return accumulate(sftObjective(model, ctx.collateOptions) as Objective);
  if (stage === 'rm') {
    const dirs = [...(ma.adapter_name_or_path ?? [])].reverse().concat([ma.model_name_or_path as string]);
    const { head, from } = ValueHead.loadOrInit(dirs, model.config.hiddenSize, ta.seed);
    if (from) ctx.log(`loaded the value head from ${from}`);
    return accumulate(rewardModelObjective(model, { collateOptions: ctx.collateOptions, head }) as Objective);
  }
  if (stage === 'dpo' || stage === 'orpo') {
    const type = (stage === 'orpo' ? 'orpo' : fa.pref_loss) as PreferenceLossType;
    if (fa.pref_bco_weight > 1e-6 && !usesReferenceModel(type))
      ctx.log(`pref_bco_weight has no effect with pref_loss ${type} (BCO needs a reference model)`);
    const reference = usesReferenceModel(type) ? await createReference(args, ctx) : { kind: 'none' as const };
    return accumulate(
      dpoObjective(model, {
        collateOptions: ctx.collateOptions,
        loss: { type, beta: fa.pref_beta, labelSmoothing: fa.dpo_label_smoothing, simpoGamma: fa.simpo_gamma },
        ftx: fa.pref_ftx,
        bcoWeight: fa.pref_bco_weight,
        ...(fa.ld_alpha === null || fa.ld_alpha === undefined ? {} : { ldAlpha: fa.ld_alpha }),
        reference,
      }) as Objective,
    );
  }
  if (stage === 'kto')
    return accumulate(
      ktoObjective(model, {
        collateOptions: ctx.collateOptions,
        loss: { beta: fa.pref_beta, chosenWeight: fa.kto_chosen_weight, rejectedWeight: fa.kto_rejected_weight },
        ftx: fa.pref_ftx,
        reference: await createReference(args, ctx),
      }) as Objective,
    );
  throw new TrainError(`unknown stage '${stage}': use pt, sft, rm, dpo, orpo, kto or ppo`);
}
