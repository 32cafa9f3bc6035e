/**
 * `train(config)`: LLaMA-Factory's run_pt / run_sft on lmforge's engine. The CLI (`lmforge train`) is a thin face
 * over it. One run: arguments -> tokenizer + template -> model (+ LoRA / freeze / full) -> tokenized data -> the
 * update loop (accumulation, clipping, optimizer, schedule) with logging, evaluation, checkpoints and resume ->
 * the files users know in output_dir.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { getTokenizedDataset } from '../data/preprocess.js';
import type { SupervisedRecord } from '../data/processors/types.js';
import { getTemplate, type Template } from '../data/template/index.js';
import { clipGradNorm_, gradNorm, setThreads } from '../engine/index.js';
import { parseTrainArgs, type TrainArgs, writeTrainingArgsYaml } from '../hparams/index.js';
import { ADAPTER_WEIGHTS_FILE } from '../io/peft.js';
import { type CausalLM, loadModel } from '../models/causal-lm.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import {
  lastCheckpoint,
  loadTrainingCheckpoint,
  removeCheckpoints,
  removeStaleTemporaries,
  rotateCheckpoints,
  saveTrainingCheckpoint,
} from './checkpoints.js';
import { DataOrder } from './data-order.js';
import { plotLoss } from './plot.js';
import { trainPpo } from './ppo.js';
import { predict } from './predict.js';
import { Progress, type ProgressStream } from './progress.js';
import { perplexity, saveMetrics, speedMetrics } from './results.js';
import { checkResumable, RUN_RECORD_NAME, type RunTotals, runFingerprint } from './run-record.js';
import { createOptimizer, createScheduler, TrainError } from './run-setup.js';
import { type Metrics, meanMetrics } from './stage.js';
import { createStage } from './stages.js';
import { type TrainerLogLine, TrainerLogWriter } from './trainer-log.js';
import { type LogEntry, TrainerState } from './trainer-state.js';

export interface TrainEvents {
  /** Every log entry (training loss, evaluation), as trainer_log.jsonl gets it. */
  onLog?: (entry: LogEntry, line: TrainerLogLine) => void;
  /** After every optimizer update. */
  onStep?: (info: {
    step: number;
    maxSteps: number;
    loss: number;
    lr: number;
    epoch: number;
    gradNorm: number;
  }) => void;
  onSave?: (dir: string) => void;
}

export interface TrainOptions {
  /** Abort (Ctrl-C in the CLI): the run saves a checkpoint at the current step and returns. */
  signal?: AbortSignal;
  /** Where the progress bar / lines go (default: stderr); false for none. */
  progress?: ProgressStream | false;
  /** Informational messages (default: console.error with an [lmforge] prefix). */
  log?: (message: string) => void;
  events?: TrainEvents;
}

export interface TrainResult {
  outputDir: string;
  globalStep: number;
  maxSteps: number;
  /** Average training loss over the run (HF's train_loss). */
  trainLoss: number;
  evalLoss?: number;
  /** True when the run stopped early on the abort signal (a checkpoint was saved). */
  interrupted: boolean;
  logHistory: LogEntry[];
}

export { TrainError };

const WEIGHT_FILES = [ADAPTER_WEIGHTS_FILE, 'model.safetensors', 'model.safetensors.index.json'];

export async function train(
  config: readonly string[] | Record<string, unknown> | TrainArgs,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const args = isTrainArgs(config) ? config : parseTrainArgs(config);
  const log = options.log ?? ((m: string) => console.error(`[lmforge] ${m}`));
  for (const note of args.notes) log(`note: ${note}`);
  const { model: ma, data: da, finetuning: fa, training: ta } = args;
  // stage orpo (LLaMA-Factory 0.6's name) is the dpo stage with pref_loss orpo, on the same pairwise data
  const stageName = fa.stage === 'orpo' ? 'dpo' : fa.stage;
  if (!ta.do_train && !ta.do_predict)
    throw new TrainError('do_train and do_predict are false: nothing to do (set do_train: true or do_predict: true)');
  if (ta.do_predict && !ta.predict_with_generate)
    throw new TrainError('do_predict needs predict_with_generate: true (predictions are generated text)');
  if (ta.do_predict && fa.stage !== 'sft') throw new TrainError(`do_predict runs with stage sft, not ${fa.stage}`);
  if (ta.threads !== null && ta.threads !== undefined) setThreads(ta.threads);
  if (!ta.do_train) return predictOnly(args, options, log);
  const outputDir = ta.output_dir;

  if (existsSync(outputDir) && !statSync(outputDir).isDirectory())
    throw new TrainError(`output_dir ${outputDir} is a file, not a folder: choose another output_dir`);
  for (const dir of removeStaleTemporaries(outputDir)) log(`removed ${dir}, left by an interrupted write`);
  // overwrite_output_dir starts the folder over: an old run's checkpoints left there would be resumed by the next
  // run that does not overwrite, silently continuing someone else's weights.
  if (ta.overwrite_output_dir && !ta.resume_from_checkpoint) {
    const removed = removeCheckpoints(outputDir);
    if (removed.length > 0) log(`overwrite_output_dir: removed ${removed.length} old checkpoint(s) from ${outputDir}`);
  }
  // Resume: an explicit checkpoint, or the newest one in output_dir unless overwrite_output_dir (LLaMA-Factory).
  let resumeFrom = ta.resume_from_checkpoint;
  if (!resumeFrom && existsSync(outputDir) && !ta.overwrite_output_dir) {
    resumeFrom = lastCheckpoint(outputDir);
    if (!resumeFrom && readdirSync(outputDir).some((f) => WEIGHT_FILES.includes(f)))
      throw new TrainError(
        `output_dir ${outputDir} already holds a trained model; set overwrite_output_dir: true or choose another output_dir`,
      );
    if (resumeFrom) log(`resuming training from ${resumeFrom}`);
  }
  if (resumeFrom && fa.stage === 'ppo')
    throw new TrainError(
      `stage ppo cannot resume (as in LLaMA-Factory), and ${resumeFrom} would be resumed: set overwrite_output_dir: true or choose another output_dir (a checkpoint's adapter can seed a new run through adapter_name_or_path)`,
    );

  // Tokenizer and template (get_template_and_fix_tokenizer).
  const modelDir = ma.model_name_or_path as string;
  if (!existsSync(join(modelDir, 'config.json')))
    throw new TrainError(`model_name_or_path ${modelDir} is not a local Hugging Face model folder (no config.json)`);
  const tokenizer = Tokenizer.fromDir(modelDir);
  const template = templateFor(tokenizer, args, log);

  // Data, before the model: a data mistake or a checkpoint of another run is reported without waiting for the load.
  const dataset = await getTokenizedDataset(
    { ...da, seed: ta.seed, predict_with_generate: ta.predict_with_generate } as Parameters<
      typeof getTokenizedDataset
    >[0],
    stageName,
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
  const model = await loadModel(modelDir);
  if (tokenizer.size > model.config.vocabSize)
    throw new TrainError(
      `the tokenizer has ${tokenizer.size} tokens but the model's vocabulary is ${model.config.vocabSize} (the template added special tokens); use a template that needs no new tokens`,
    );
  setupTraining(model, args, log);
  if (storage !== 'f32') model.castFrozen(storage);
  model.gradientCheckpointing = !ma.disable_gradient_checkpointing;
  model.train();
  const modelTrainable = model.trainableParameters();
  const trainableCount = modelTrainable.reduce((a, [, t]) => a + t.numel, 0);
  const totalCount = model.namedParameters().reduce((a, [, t]) => a + t.numel, 0);
  log(
    `trainable params: ${trainableCount.toLocaleString('en-US')} || all params: ${totalCount.toLocaleString('en-US')} || trainable%: ${((100 * trainableCount) / totalCount).toFixed(4)}`,
  );

  if (fa.stage === 'ppo') {
    try {
      return await trainPpo({
        args,
        model,
        tokenizer,
        template,
        prompts: trainSet as SupervisedRecord[],
        storage,
        options,
        log,
      });
    } finally {
      model.dispose();
    }
  }
  const padTokenId = tokenizer.padTokenId ?? tokenizer.eosTokenId ?? 0;
  const collateOptions = {
    padTokenId,
    padToMultipleOf: 8,
    neatPacking: da.neat_packing,
    languageModeling: fa.stage === 'pt',
  };
  const stage = await createStage(args, model, { collateOptions, storage, log });
  const trainable = [...modelTrainable, ...(stage.extraParameters?.() ?? [])];
  const summarize = (entries: readonly Metrics[]) => (stage.summarize ?? meanMetrics)(entries);
  const order = new DataOrder(
    trainSet.length,
    ta.per_device_train_batch_size,
    ta.gradient_accumulation_steps,
    ta.seed,
    !fa.disable_shuffling,
  );
  const maxSteps = ta.max_steps > 0 ? ta.max_steps : Math.ceil(ta.num_train_epochs * order.updatesPerEpoch);
  if (maxSteps <= 0)
    throw new TrainError(
      `num_train_epochs ${ta.num_train_epochs} with ${order.updatesPerEpoch} updates per epoch gives 0 optimization steps: nothing would be trained (and ${outputDir} would get an untrained model); set num_train_epochs or max_steps above 0`,
    );
  const numEpochs = ta.max_steps > 0 ? Math.ceil(ta.max_steps / order.updatesPerEpoch) : Math.ceil(ta.num_train_epochs);

  // Optimizer (weight decay off for biases and norms, as HF groups them) and schedule.
  const optimizer = createOptimizer(trainable, ta);
  const scheduler = createScheduler(maxSteps, ta);
  // The model's own dropout stream (its LoRA layers hold it): seeding a new one would leave the checkpoint
  // recording a stream no layer reads, and a resumed run would replay dropout masks from the start.
  const rng = model.rng.manualSeed(ta.seed);
  // The run's totals so far (from the checkpoint resumed) plus this part's, as each checkpoint records them.
  const before: RunTotals = prior ?? { loss_sum: 0, steps: 0, runtime: 0 };
  let lossTotal = 0;
  let started = performance.now();
  const totals = (): RunTotals => ({
    loss_sum: before.loss_sum + lossTotal,
    steps: before.steps + (state.global_step - startStep),
    runtime: before.runtime + (performance.now() - started) / 1000,
  });
  const parts = {
    model,
    optimizer,
    scheduler,
    rng,
    tokenizer,
    extra: stage,
    run: () => ({ fingerprint, totals: totals() }),
  };

  let startStep = 0;
  let state = TrainerState.begin({
    maxSteps,
    numTrainEpochs: numEpochs,
    trainBatchSize: ta.per_device_train_batch_size,
    loggingSteps: ta.logging_steps,
    evalSteps: ta.eval_steps,
    saveSteps: ta.save_steps,
  });
  if (resumeFrom) {
    const restored = loadTrainingCheckpoint(resumeFrom, parts);
    Object.assign(restored, {
      max_steps: maxSteps,
      logging_steps: state.logging_steps,
      eval_steps: state.eval_steps,
      save_steps: state.save_steps,
    });
    state = restored;
    startStep = state.global_step;
    if (state.global_step >= maxSteps && existsSync(join(outputDir, 'train_results.json'))) {
      // Re-running a finished command: its results are already in output_dir; rewriting them from zero steps
      // would replace the run's loss with NaN and its runtime with the time to load the model.
      log(
        `training in ${outputDir} is already complete (step ${state.global_step}/${maxSteps}); nothing to do. Set overwrite_output_dir: true to train again`,
      );
      optimizer.dispose();
      stage.dispose?.();
      model.dispose();
      return {
        outputDir,
        globalStep: state.global_step,
        maxSteps,
        trainLoss: Number.NaN,
        interrupted: false,
        logHistory: state.log_history,
      };
    }
  }
  const logWriter = new TrainerLogWriter(outputDir, { overwrite: ta.overwrite_output_dir && !resumeFrom });
  // Lines logged after the checkpoint by the interrupted part are logged again by this one: drop the old copies.
  if (resumeFrom) logWriter.dropAfter(state.global_step);
  logWriter.reset(maxSteps, before.runtime);
  writeTrainingArgsYaml(join(outputDir, 'training_args.yaml'), args);
  log(
    `***** Running training ***** examples ${trainSet.length}, epochs ${numEpochs}, batch ${ta.per_device_train_batch_size} x accumulation ${ta.gradient_accumulation_steps}, optimization steps ${maxSteps}`,
  );

  const progress = options.progress === false ? null : new Progress({ stream: options.progress ?? process.stderr });
  progress?.start(state.global_step, maxSteps);
  const emitLog = (entry: LogEntry) => {
    const line = logWriter.onLog(state);
    options.events?.onLog?.(entry, line);
  };
  /** eval_loss and the stage's eval_ metrics: each batch weighs the samples it holds. */
  const evaluate = (): Metrics => {
    model.eval();
    let sum = 0;
    let count = 0;
    const sums = new Map<string, number>();
    for (let i = 0; i < evalSet.length; i += ta.per_device_eval_batch_size) {
      const result = stage.evaluate(stage.collate(evalSet.slice(i, i + ta.per_device_eval_batch_size)));
      if (!Number.isFinite(result.loss)) continue;
      sum += result.loss * result.count;
      count += result.count;
      for (const [k, v] of Object.entries<number>(result.metrics)) sums.set(k, (sums.get(k) ?? 0) + v * result.count);
    }
    model.train();
    const metrics: Metrics = { eval_loss: count > 0 ? sum / count : Number.NaN };
    for (const [k, v] of sums) metrics[`eval_${k}`] = v / count;
    return metrics;
  };
  const logEval = (): number => {
    const metrics = evaluate();
    const evalLoss = metrics.eval_loss as number;
    if (fa.stage === 'pt') metrics.eval_perplexity = perplexity(evalLoss);
    emitLog(state.log(metrics));
    return evalLoss;
  };
  const save = (): string => {
    const dir = saveTrainingCheckpoint(outputDir, state, parts);
    rotateCheckpoints(outputDir, ta.save_total_limit, state.best_model_checkpoint);
    options.events?.onSave?.(dir);
    return dir;
  };

  started = performance.now();
  let lossSinceLog = 0;
  let stepsSinceLog = 0;
  let metricsSinceLog: Metrics[] = [];
  let interrupted = false;
  let lastSaved = resumeFrom ? state.global_step : -1;
  let lastEvalLoss: number | undefined;
  // Records tokenized for generation hold the prompt only: there is no eval loss to compute on them.
  const hasEval = evalSet.length > 0 && ta.eval_strategy !== 'no' && !ta.predict_with_generate;
  try {
    while (state.global_step < maxSteps) {
      const step = state.global_step;
      const { epoch, microBatches } = order.update(step);
      const batches = microBatches.map((idx) => stage.collate(idx.map((i) => trainSet[i])));
      for (const g of optimizer.paramGroups) g.lr = scheduler.lr;
      let stepLoss = 0;
      for (const b of batches) {
        const { loss, metrics } = stage.step(b, batches);
        stepLoss += loss;
        metricsSinceLog.push(metrics);
        state.num_input_tokens_seen += stage.inputTokens(b);
      }
      const grads = trainable.map(([, t]) => t.grad);
      const norm = ta.max_grad_norm > 0 ? clipGradNorm_(grads, ta.max_grad_norm) : gradNorm(grads);
      if (!Number.isFinite(stepLoss) || !Number.isFinite(norm)) {
        optimizer.zeroGrad();
        const dir = save();
        throw new TrainError(
          `the ${Number.isFinite(stepLoss) ? 'gradient norm' : 'loss'} became ${Number.isFinite(stepLoss) ? norm : stepLoss} at step ${step + 1}; the weights before this step are saved in ${dir}. Lower learning_rate, set max_grad_norm (e.g. 1.0), use bf16 rather than fp16, and check the data for empty or broken examples; then resume with resume_from_checkpoint: ${dir}`,
        );
      }
      optimizer.step();
      scheduler.step();
      optimizer.zeroGrad();
      state.global_step = step + 1;
      const groupsInEpoch = order.updatesPerEpoch;
      state.epoch = epoch + ((step % groupsInEpoch) + 1) / groupsInEpoch;
      lossSinceLog += stepLoss;
      stepsSinceLog++;
      lossTotal += stepLoss;
      options.events?.onStep?.({
        step: state.global_step,
        maxSteps,
        loss: stepLoss,
        lr: scheduler.lr,
        epoch: state.epoch,
        gradNorm: norm,
      });
      progress?.update({
        step: state.global_step,
        total: maxSteps,
        loss: stepLoss,
        lr: scheduler.lr,
        epoch: state.epoch,
      });

      const epochEnd = state.global_step % groupsInEpoch === 0;
      const last = state.global_step === maxSteps;
      if (
        (ta.logging_strategy === 'steps' && state.global_step % state.logging_steps === 0) ||
        (ta.logging_strategy === 'epoch' && epochEnd) ||
        (last && stepsSinceLog > 0 && ta.logging_strategy !== 'no')
      ) {
        emitLog(state.logTraining(lossSinceLog / stepsSinceLog, norm, scheduler.lr, summarize(metricsSinceLog)));
        lossSinceLog = 0;
        stepsSinceLog = 0;
        metricsSinceLog = [];
      }
      if (
        hasEval &&
        ((ta.eval_strategy === 'steps' && state.global_step % state.eval_steps === 0) ||
          (ta.eval_strategy === 'epoch' && epochEnd))
      ) {
        lastEvalLoss = logEval();
        if (ta.lr_scheduler_type === 'reduce_lr_on_plateau') scheduler.step(lastEvalLoss);
      }
      if (
        (ta.save_strategy === 'steps' && state.global_step % state.save_steps === 0) ||
        (ta.save_strategy === 'epoch' && epochEnd)
      ) {
        save();
        lastSaved = state.global_step;
      }
      // Let signals (Ctrl-C) and timers run between updates.
      await new Promise((r) => setImmediate(r));
      if (options.signal?.aborted && !last) {
        interrupted = true;
        if (lastSaved !== state.global_step) save();
        log(
          `interrupted at step ${state.global_step}/${maxSteps}; checkpoint saved in ${join(outputDir, `checkpoint-${state.global_step}`)} — ${ta.overwrite_output_dir ? `resume with resume_from_checkpoint: ${join(outputDir, `checkpoint-${state.global_step}`)} (with overwrite_output_dir: true the same command starts over)` : 'run the same command again to resume'}`,
        );
        break;
      }
    }
  } finally {
    progress?.done();
    optimizer.dispose();
  }

  // The whole run's figures, every resumed part included (HF reports only the last part's loss sum over all steps).
  const run = totals();
  if (resumeFrom && !prior)
    log(
      `note: ${resumeFrom} has no ${RUN_RECORD_NAME} (an older lmforge wrote it): train_loss and train_runtime cover only the steps since the resume`,
    );
  const trainLoss = run.steps > 0 ? run.loss_sum / run.steps : Number.NaN;
  if (!interrupted) {
    // The results at the top of output_dir: weights, tokenizer (with its chat template), state, metrics, plots.
    if (model.adapterConfig) model.saveAdapter(outputDir);
    else model.save(outputDir);
    stage.saveExtra?.(outputDir);
    tokenizer.save(outputDir);
    state.save(outputDir);
    const samples =
      ta.max_steps > 0
        ? maxSteps * ta.per_device_train_batch_size * ta.gradient_accumulation_steps
        : trainSet.length * ta.num_train_epochs;
    saveMetrics(outputDir, 'train', {
      epoch: state.epoch ?? 0,
      train_loss: trainLoss,
      // Without a record the runtime covers only this part: count only its samples.
      ...speedMetrics('train', run.runtime, {
        samples: prior || !resumeFrom ? samples : (samples * run.steps) / maxSteps,
        steps: run.steps,
      }),
      ...(state.num_input_tokens_seen ? { num_input_tokens_seen: state.num_input_tokens_seen } : {}),
    });
    if (hasEval) {
      const metrics: Metrics = { epoch: state.epoch ?? 0, ...evaluate() };
      lastEvalLoss = metrics.eval_loss as number;
      if (fa.stage === 'pt') metrics.perplexity = perplexity(lastEvalLoss);
      saveMetrics(outputDir, 'eval', metrics);
    }
    if (fa.plot_loss) {
      const { written } = plotLoss(outputDir, ['loss', 'eval_loss', ...stage.plotKeys]);
      for (const f of written) log(`wrote ${f}`);
    }
    if (ta.do_predict) runPredict(model, tokenizer, template, evalSet as SupervisedRecord[], args, options, log);
  }
  const result: TrainResult = {
    outputDir,
    globalStep: state.global_step,
    maxSteps,
    trainLoss,
    interrupted,
    logHistory: state.log_history,
    ...(lastEvalLoss === undefined ? {} : { evalLoss: lastEvalLoss }),
  };
  stage.dispose?.();
  model.dispose();
  return result;
}

/** do_predict after training, or on its own: generate for the eval set and write the prediction files. */
function runPredict(
  model: CausalLM,
  tokenizer: Tokenizer,
  template: Template,
  evalSet: readonly SupervisedRecord[],
  args: TrainArgs,
  options: TrainOptions,
  log: (m: string) => void,
): void {
  const ta = args.training;
  if (evalSet.length === 0)
    throw new TrainError('do_predict needs examples to predict: set eval_dataset (or val_size) and check cutoff_len');
  log(`***** Running prediction ***** examples ${evalSet.length}, batch ${ta.per_device_eval_batch_size}`);
  const { metrics, complete } = predict({
    model,
    tokenizer,
    template,
    records: evalSet,
    generating: args.generating,
    batchSize: ta.per_device_eval_batch_size,
    outputDir: ta.output_dir,
    seed: ta.seed,
    ...(options.progress === undefined ? {} : { progress: options.progress }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!complete) {
    log('prediction interrupted: no prediction files written');
    return;
  }
  for (const [k, v] of Object.entries(metrics)) log(`  ${k} = ${v}`);
  log(`wrote generated_predictions.jsonl and predict_results.json in ${ta.output_dir}`);
}

/** do_predict without do_train (LLaMA-Factory's run_sft): the model with its adapters, frozen, on the eval set. */
async function predictOnly(args: TrainArgs, options: TrainOptions, log: (m: string) => void): Promise<TrainResult> {
  const { model: ma, data: da, finetuning: fa, training: ta } = args;
  const modelDir = ma.model_name_or_path as string;
  if (!existsSync(join(modelDir, 'config.json')))
    throw new TrainError(`model_name_or_path ${modelDir} is not a local Hugging Face model folder (no config.json)`);
  const tokenizer = Tokenizer.fromDir(modelDir);
  const template = templateFor(tokenizer, args, log);
  const adapters = ma.adapter_name_or_path ?? [];
  if (adapters.length > 0 && fa.finetuning_type !== 'lora')
    throw new TrainError('adapter_name_or_path needs finetuning_type: lora');
  const model = await loadModel(modelDir, adapters.length > 0 ? { adapter: adapters } : {});
  try {
    model.freezeAll();
    const dataset = await getTokenizedDataset(
      { ...da, seed: ta.seed, predict_with_generate: true } as Parameters<typeof getTokenizedDataset>[0],
      fa.stage as 'sft', // checked by train(): predict_with_generate is sft-only
      tokenizer,
      template,
      { log },
    );
    runPredict(model, tokenizer, template, (dataset.eval_dataset ?? []) as SupervisedRecord[], args, options, log);
  } finally {
    model.dispose();
  }
  return {
    outputDir: ta.output_dir,
    globalStep: 0,
    maxSteps: 0,
    trainLoss: Number.NaN,
    interrupted: false,
    logHistory: [],
  };
}

/** get_template_and_fix_tokenizer: the named (or derived) template with the data arguments' overrides. */
export function templateFor(tokenizer: Tokenizer, args: TrainArgs, log: (m: string) => void): Template {
  const da = args.data;
  return getTemplate(da.template ?? undefined, tokenizer, {
    enableThinking: da.enable_thinking,
    // "" is a real value (no system prompt); only null leaves the template's own default
    defaultSystem: da.default_system,
    toolFormat: da.tool_format,
    log: (level, message) => log(level === 'warning' ? `warning: ${message}` : message),
  });
}

function isTrainArgs(x: unknown): x is TrainArgs {
  return typeof x === 'object' && x !== null && 'finetuning' in x && 'training' in x && 'given' in x;
}

/** LoRA (new or resumed adapter, earlier adapters merged), freeze, or full fine-tuning (_setup_*_tuning). */
function setupTraining(model: CausalLM, args: TrainArgs, log: (m: string) => void): void {
  const { model: ma, finetuning: fa, training: ta } = args;
  if (fa.finetuning_type === 'full') {
    model.setFullTraining();
    log('Fine-tuning method: Full');
    return;
  }
  if (fa.finetuning_type === 'freeze') {
    const patterns = model.setFreezeTraining({
      trainableLayers: fa.freeze_trainable_layers,
      trainableModules: fa.freeze_trainable_modules,
      extraModules: fa.freeze_extra_modules ?? [],
    });
    log(`Fine-tuning method: Freeze; trainable layers: ${patterns.join(',')}`);
    return;
  }
  const adapters = ma.adapter_name_or_path ?? [];
  const resume = adapters.length > 0 && !fa.create_new_adapter ? adapters.at(-1) : undefined;
  for (const a of adapters.slice(0, resume ? -1 : undefined)) {
    model.loadAdapter(a);
    model.mergeAdapter();
    log(`merged adapter ${a}`);
  }
  if (resume) {
    model.loadAdapter(resume, { trainable: true });
    log(`resumed LoRA training of ${resume}`);
  } else {
    const targets = fa.lora_target.length === 1 && fa.lora_target[0] === 'all' ? 'all' : fa.lora_target;
    model.addLora({
      r: fa.lora_rank,
      alpha: fa.lora_alpha ?? fa.lora_rank * 2,
      dropout: fa.lora_dropout,
      targetModules: targets,
      ...(fa.additional_target ? { modulesToSave: fa.additional_target } : {}),
      useRslora: fa.use_rslora,
      seed: ta.seed,
    });
    log(
      `Fine-tuning method: LoRA (rank ${fa.lora_rank}, alpha ${fa.lora_alpha}, targets ${Array.isArray(targets) ? targets.join(',') : targets})`,
    );
  }
}
