/**
 * Everything a training run needs before its first step, in the order that reports a mistake soonest: where it
 * starts (resume.ts), tokenizer + template, the tokenized data (before the model: a data mistake or another run's
 * checkpoint is reported without waiting for the load), the model in its training mode, the stage (stages.ts), the
 * optimizer over the model's and the stage's trainable weights, the LR schedule and the dropout generator.
 */

import { getTokenizedDataset } from '../data/preprocess.js';
import type { Template } from '../data/template/index.js';
import type { Text2SqlMeta } from '../data/text2sql.js';
import { currentWorld } from '../dist/world.js';
import type { Generator, Tensor } from '../engine/index.js';
import { quantizationOf, type TrainArgs } from '../hparams/index.js';
import { checkModelFolder } from '../io/model-folder-check.js';
import { isModelSource, readSourceConfig } from '../io/model-source.js';
import { type CausalLM, loadModel } from '../models/causal-lm.js';
import { configureMoe, type MoeForCausalLM } from '../models/moe.js';
import { paddedVocabSize } from '../models/resize-vocab.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { createBadamOptimizer } from './badam.js';
import { createGaloreOptimizer } from './galore-setup.js';
import type { AdamW, SGD } from './optimizers.js';
import { resolveResume } from './resume.js';
import { checkResumable, type RunFingerprint, type RunTotals, runFingerprint } from './run-record.js';
import { createOptimizer, createScheduler, TrainError } from './run-setup.js';
import type { LrScheduler } from './schedulers.js';
import type { Stage } from './stage.js';
import { createStage } from './stages.js';
import { templateFor } from './template-setup.js';
import { freezeTrainedParameters, setupTraining } from './training-mode.js';

export interface PreparedRun {
  outputDir: string;
  /** The checkpoint this run continues, or null. */
  resumeFrom: string | null;
  /** The totals the resumed checkpoint recorded (null: a fresh run, or a checkpoint without a record). */
  prior: RunTotals | null;
  fingerprint: RunFingerprint;
  model: CausalLM;
  tokenizer: Tokenizer;
  template: Template;
  trainSet: readonly unknown[];
  evalSet: readonly unknown[];
  /** text2sql eval sets tokenized for generation: each eval record's database */
  evalSql?: readonly (Text2SqlMeta | null)[];
  stage: Stage;
  /** Every trainable weight: the model's, then the stage's (a value head). */
  trainable: [string, Tensor][];
  optimizer: AdamW | SGD;
  scheduler: LrScheduler;
  rng: Generator;
  dispose(): void;
}

export async function prepareRun(
  args: TrainArgs,
  log: (message: string) => void,
  signal: AbortSignal | undefined,
): Promise<PreparedRun> {
  const { model: ma, data: da, finetuning: fa, training: ta } = args;
  // stage orpo (LLaMA-Factory 0.6's name) is the dpo stage with pref_loss orpo, on the same pairwise data
  const dataStage = fa.stage === 'orpo' ? 'dpo' : fa.stage;
  // Rank 0 decides (it may clear output_dir); every rank resumes from the same checkpoint.
  const resumeFrom = currentWorld().fromMain(() => resolveResume(args, log));

  // Tokenizer and template (get_template_and_fix_tokenizer).
  const modelDir = ma.model_name_or_path as string;
  if (!isModelSource(modelDir))
    throw new TrainError(
      `model_name_or_path ${modelDir} is not a local Hugging Face model folder (no config.json) or GGUF file`,
    );
  // A broken config or truncated weights fail here, before the dataset is tokenized.
  checkModelFolder(modelDir);
  const tokenizer = Tokenizer.fromDir(modelDir);
  const added = addConfiguredTokens(tokenizer, args, log);
  const template = templateFor(tokenizer, args, log);

  const dataset = await getTokenizedDataset(
    { ...da, seed: ta.seed, predict_with_generate: ta.predict_with_generate } as Parameters<
      typeof getTokenizedDataset
    >[0],
    dataStage,
    tokenizer,
    template,
    { log },
  );
  const trainSet: readonly unknown[] = dataset.train_dataset ?? [];
  const evalSet: readonly unknown[] = dataset.eval_dataset ?? [];
  if (trainSet.length === 0)
    throw new TrainError(
      'the training set is empty after preprocessing (check dataset, cutoff_len and the dropped-example warnings)',
    );
  if (fa.stage === 'ppo' && evalSet.length > 0)
    throw new TrainError('stage ppo does not evaluate (as in LLaMA-Factory): remove eval_dataset and val_size');

  // Only this run's checkpoints are resumed: what determines the trajectory must match the checkpoint's record.
  const fingerprint = runFingerprint(args, modelDir, trainSet);
  const prior = resumeFrom ? checkResumable(resumeFrom, fingerprint, Boolean(ta.resume_from_checkpoint), log) : null;

  // Model and training mode. Frozen weights are stored in the compute dtype (bf16/f16 halve their memory).
  const storage = ma.compute_dtype === 'bf16' ? 'bf16' : ma.compute_dtype === 'f16' ? 'f16' : 'f32';
  const quantization = quantizationOf(ma);
  const resizeVocabTo = ma.resize_vocab || added > 0 ? paddedVocabSize(tokenizer.size, 64) : undefined;
  // Freeze tuning: the layers that train load as f32 masters, the rest straight into the storage dtype.
  const freezeMasters =
    storage !== 'f32' && fa.finetuning_type === 'freeze'
      ? freezeTrainedParameters(args, readSourceConfig(modelDir).numHiddenLayers)
      : undefined;
  const loadDtype =
    storage !== 'f32' && (freezeMasters || baseStaysFrozen(args, quantization !== undefined, resizeVocabTo))
      ? storage
      : undefined;
  const model = await loadModel(modelDir, {
    ...(quantization ? { quantization } : {}),
    ...(loadDtype ? { dtype: loadDtype } : {}),
    ...(freezeMasters ? { f32Parameters: freezeMasters } : {}),
    // Full and freeze tuning of a GGUF base train its matrices: float masters, its 16-bit and block matrices decoded.
    // LoRA keeps them as stored; what it trains in full (additional_target, resize_vocab) is decoded by name.
    ...(fa.finetuning_type === 'lora' ? {} : { dequantizeBase: true }),
    ...(resizeVocabTo !== undefined ? { resizeVocabTo } : {}),
    ...(fa.finetuning_type === 'lora' && fa.additional_target ? { fullPrecisionModules: fa.additional_target } : {}),
  });
  let stage: Stage | undefined;
  try {
    if (tokenizer.size > model.config.vocabSize)
      throw new TrainError(
        `the tokenizer has ${tokenizer.size} tokens but the model's vocabulary is ${model.config.vocabSize} (the template added special tokens); set resize_vocab: true to grow the embeddings`,
      );
    setupTraining(model, withResizedTargets(args, model, resizeVocabTo, log), log);
    if (storage !== 'f32') model.castFrozen(storage);
    model.gradientCheckpointing = !ma.disable_gradient_checkpointing;
    // LLaMA-Factory's configure_longlora: S²-Attn for the llama model type only, a warning for others.
    if (ma.shift_attn && model.config.modelType === 'llama') {
      model.module.model.shiftAttention = true;
      log('Using shift short attention with group_size_ratio=1/4.');
    } else if (ma.shift_attn) log('Current model does not support shift short attention.');
    if (configureMoe(model.module, ma.moe_aux_loss_coef))
      log(`router aux loss: router_aux_loss_coef ${(model.module as MoeForCausalLM).routerStatistics.coef}`);
    model.train();
    const modelTrainable = model.trainableParameters();
    const trainableCount = modelTrainable.reduce((a, [, t]) => a + t.numel, 0);
    const totalCount = model.parameterCount();
    if (quantization) log(model.quantizationSummary());
    log(
      `trainable params: ${trainableCount.toLocaleString('en-US')} || all params: ${totalCount.toLocaleString('en-US')} || trainable%: ${((100 * trainableCount) / totalCount).toFixed(4)}`,
    );

    const collateOptions = {
      padTokenId: tokenizer.padTokenId ?? tokenizer.eosTokenId ?? 0,
      padToMultipleOf: 8,
      neatPacking: da.neat_packing,
      languageModeling: fa.stage === 'pt',
    };
    stage = await createStage(args, {
      model,
      tokenizer,
      template,
      trainSet,
      evalSet,
      collateOptions,
      storage,
      log,
      ...(signal ? { signal } : {}),
    });
    // Optimizer (weight decay off for biases and norms, as HF groups them) and schedule.
    const trainable = [...modelTrainable, ...(stage.extraParameters?.() ?? [])];
    const loraPlus =
      fa.finetuning_type === 'lora' && fa.loraplus_lr_ratio !== null
        ? { ratio: fa.loraplus_lr_ratio, embeddingLr: fa.loraplus_lr_embedding }
        : null;
    const optimizer = fa.use_galore
      ? createGaloreOptimizer(model, trainable, ta, fa, log)
      : fa.use_badam
        ? createBadamOptimizer(trainable, ta, fa, log)
        : createOptimizer(trainable, ta, loraPlus);
    const scheduler = createScheduler(stage.plan.scheduleSteps, ta);
    // The model's own dropout stream (its LoRA layers hold it): seeding a new one would leave the checkpoint
    // recording a stream no layer reads, and a resumed run would replay dropout masks from the start.
    const rng = model.rng.manualSeed(ta.seed);
    const owned = stage;
    return {
      outputDir: ta.output_dir,
      resumeFrom,
      prior,
      fingerprint,
      model,
      tokenizer,
      template,
      trainSet,
      evalSet,
      ...(dataset.eval_sql ? { evalSql: dataset.eval_sql } : {}),
      stage,
      trainable,
      optimizer,
      scheduler,
      rng,
      dispose() {
        optimizer.dispose();
        owned.dispose?.();
        model.dispose();
      },
    };
  } catch (e) {
    stage?.dispose?.();
    model.dispose();
    throw e;
  }
}

/**
 * LLaMA-Factory's add_tokens / add_special_tokens (load_tokenizer): tokens added to the tokenizer; any new one turns
 * resize_vocab on. Returns how many were new.
 */
function addConfiguredTokens(tokenizer: Tokenizer, args: TrainArgs, log: (message: string) => void): number {
  const { add_tokens: plain, add_special_tokens: special } = args.model;
  let added = 0;
  if (plain) added += tokenizer.addTokens(plain as string[], false);
  if (special) added += tokenizer.addSpecialTokens({ additionalSpecialTokens: special as string[] }, false);
  if (added > 0) {
    log(`Add ${[...(plain ?? []), ...(special ?? [])].join(',')} to the vocab.`);
    if (!args.model.resize_vocab) log('New tokens have been added, changed `resize_vocab` to True.');
  }
  return added;
}

/**
 * With a resized vocabulary, LoRA trains the embedding and LM head in full unless additional_target names modules
 * (LLaMA-Factory's adapter setup); a tied head is the embedding, so only embed_tokens is named then.
 */
function withResizedTargets(
  args: TrainArgs,
  model: { config: { tieWordEmbeddings: boolean } },
  resizeVocabTo: number | undefined,
  log: (message: string) => void,
): TrainArgs {
  const fa = args.finetuning;
  if (resizeVocabTo === undefined || fa.finetuning_type !== 'lora' || fa.additional_target) return args;
  const targets = model.config.tieWordEmbeddings ? ['embed_tokens'] : ['embed_tokens', 'lm_head'];
  log(`Vocab has been resized, add ${targets.join(',')} to trainable params.`);
  return { ...args, finetuning: { ...fa, additional_target: targets } };
}

/**
 * Whether every weight loadModel reads stays frozen and is only ever used in the compute dtype, so it can load
 * straight into it (as transformers loads in torch_dtype) instead of as f32 that castFrozen then converts: the f32
 * copies add half the model again to the loading peak (an 8B QLoRA base's embedding and head: 4 GB; a bf16 LoRA
 * base: all of it). The same conversion happens either way, so results do not change. Not when something trains in
 * full (additional_target, resize_vocab's embedding: f32 masters), nor when LoRA setup reads or changes the base in
 * f32 first (PiSSA's SVD, DoRA's weight norms, merging or resuming adapter_name_or_path).
 */
function baseStaysFrozen(args: TrainArgs, quantized: boolean, resizeVocabTo: number | undefined): boolean {
  const { model: ma, finetuning: fa } = args;
  if (fa.finetuning_type !== 'lora' || fa.additional_target) return false;
  // A quantized base refuses resize_vocab, PiSSA and DoRA (hparams); its one adapter cannot merge into it.
  if (quantized) return true;
  return resizeVocabTo === undefined && !fa.pissa_init && !fa.use_dora && ma.adapter_name_or_path === null;
}
