/**
 * `train(config)`: LLaMA-Factory's run_pt / run_sft / run_rm / run_dpo / run_kto / run_ppo on lmforge's engine; the
 * CLI (`lmforge train`) is a thin face over it. One run: arguments -> setup (setup.ts: resume, tokenizer, data,
 * model, stage, optimizer, schedule) -> the loop below -> the files users know in output_dir (outputs.ts).
 *
 * The loop is the same for every stage: set the step's learning rate, let the stage run its step (its batches'
 * forward and backward, `optimize` after each optimizer update), step the schedule, count the step, run the
 * callbacks (events, progress, log, evaluation, checkpoint), and stop cleanly on the abort signal.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkDeepspeed } from '../dist/deepspeed.js';
import { injectFaultAt } from '../dist/fault.js';
import { GradientOverlap, useOverlap } from '../dist/overlap.js';
import { currentWorld, DEFAULT_BUCKET_BYTES, joinWorld, threadsPerRank } from '../dist/world.js';
import { ZeroOneOptimizer } from '../dist/zero.js';
import {
  clipGradNorm_,
  getMatmulPrecision,
  getThreads,
  gradNorm,
  setMatmulPrecision,
  setThreads,
  Tensor,
} from '../engine/index.js';
import { parseTrainArgs, type TrainArgs, writeTrainingArgsYaml } from '../hparams/index.js';
import { type Callback, Checkpointer, saveDue, trainingCallbacks } from './callbacks.js';
import type { TrainingParts } from './checkpoints.js';
import { noteMissingRecord, trainLossOf, writeOutputs } from './outputs.js';
import { predictOnly } from './predict-run.js';
import { restoreState } from './resume.js';
import { RunTotalsCounter } from './run-record.js';
import { applyScheduledLr, TrainError } from './run-setup.js';
import { type PreparedRun, prepareRun } from './setup.js';
import type { Optimize } from './stage.js';
import { openTrackers } from './trackers/index.js';
import type { TrainOptions, TrainResult } from './train-options.js';
import { TrainerLogWriter } from './trainer-log.js';
import { TrainerState } from './trainer-state.js';

export type { TrainEvents, TrainOptions, TrainResult } from './train-options.js';
export { TrainError };

export async function train(
  config: readonly string[] | Record<string, unknown> | TrainArgs,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const args = isTrainArgs(config) ? config : parseTrainArgs(config);
  const { finetuning: fa, training: ta } = args;
  // Under mpirun this process is one rank of a data-parallel job (src/dist); rank 0 alone speaks and writes.
  const world = joinWorld({ timeoutS: ta.ddp_timeout, bucketBytes: bucketBytesOf(ta) });
  const say = options.log ?? ((m: string) => console.error(`[lmforge] ${m}`));
  const log = world.isMain ? say : () => {};
  for (const note of args.notes) log(`note: ${note}`);
  if (ta.threads !== null && ta.threads !== undefined) setThreads(ta.threads);
  else if (world.size > 1) setThreads(threadsPerRank(world.localSize));
  if (world.size > 1) {
    log(
      `data-parallel over ${world.size} ranks (${world.localSize} on this node, ${getThreads()} engine threads each)`,
    );
    checkDeepspeed(ta.deepspeed, fa.use_galore ? 'galore' : fa.use_badam ? 'badam' : null);
    if (ta.do_predict && !ta.do_train) throw new TrainError('do_predict runs in one process: start it without mpirun');
  }
  if (!ta.do_train && !ta.do_predict)
    throw new TrainError('do_train and do_predict are false: nothing to do (set do_train: true or do_predict: true)');
  if (ta.do_predict && !ta.predict_with_generate)
    throw new TrainError('do_predict needs predict_with_generate: true (predictions are generated text)');
  if (ta.do_predict && fa.stage !== 'sft') throw new TrainError(`do_predict runs with stage sft, not ${fa.stage}`);
  // bf16 / pure_bf16: the run's GEMMs (forward, backward, generation) take bf16 operands with f32 sums.
  const precision = getMatmulPrecision();
  setMatmulPrecision(args.model.compute_dtype === 'bf16' ? 'bf16' : 'f32');
  try {
    if (!ta.do_train) return await predictOnly(args, options, log);
    const run = await prepareRun(args, log, options.signal);
    try {
      return await runLoop(run, args, options, log);
    } finally {
      run.dispose();
    }
  } finally {
    setMatmulPrecision(precision);
  }
}

async function runLoop(run: PreparedRun, args: TrainArgs, options: TrainOptions, log: (m: string) => void) {
  const ta = args.training;
  const world = currentWorld();
  const { stage, scheduler, outputDir } = run;
  // ZeRO-1 (deepspeed zero_optimization.stage 1): each rank keeps and steps its share of the optimizer state.
  const zero = world.size > 1 && checkDeepspeed(ta.deepspeed) === 1 ? new ZeroOneOptimizer(run.optimizer, world) : null;
  const optimizer = zero ?? run.optimizer;
  // DDP overlaps the gradient allreduce with the backward (LMFORGE_DDP_OVERLAP=0: after it, for comparison).
  const overlap =
    world.size > 1 && process.env.LMFORGE_DDP_OVERLAP !== '0'
      ? new GradientOverlap(
          world,
          run.trainable.map(([, t]) => t),
          bucketBytesOf(ta),
        )
      : null;
  const { maxSteps } = stage.plan;
  const counter = new RunTotalsCounter(run.prior ?? { loss_sum: 0, steps: 0, runtime: 0 });
  let state = TrainerState.begin({
    maxSteps,
    numTrainEpochs: stage.plan.numTrainEpochs,
    trainBatchSize: ta.per_device_train_batch_size,
    loggingSteps: ta.logging_steps,
    evalSteps: ta.eval_steps,
    saveSteps: ta.save_steps,
  });
  // Each group's starting rate (LoRA+ groups differ): the schedule scales them all by the same factor.
  const initialLrs = optimizer.paramGroups.map((g) => g.lr);
  const parts: TrainingParts = {
    model: run.model,
    optimizer,
    scheduler,
    rng: run.rng,
    tokenizer: run.tokenizer,
    extra: stage,
    run: () => ({ fingerprint: run.fingerprint, totals: counter.totals() }),
  };
  if (run.resumeFrom) {
    state = restoreState(run.resumeFrom, parts, state);
    if (state.global_step >= maxSteps && existsSync(join(outputDir, 'train_results.json'))) {
      // Re-running a finished command: its results are already in output_dir; rewriting them from zero steps
      // would replace the run's loss with NaN and its runtime with the time to load the model.
      log(
        `training in ${outputDir} is already complete (step ${state.global_step}/${maxSteps}); nothing to do. Set overwrite_output_dir: true to train again`,
      );
      return result(state, Number.NaN, { trained: false, interrupted: false });
    }
  }
  // DDP starts every rank from rank 0's weights (a resumed run's are the same checkpoint's on every rank anyway).
  for (const [, t] of run.trainable) world.broadcastTensor_(t);
  const logWriter = new TrainerLogWriter(outputDir, { overwrite: ta.overwrite_output_dir && !run.resumeFrom });
  // Lines logged after the checkpoint by the interrupted part are logged again by this one: drop the old copies.
  if (run.resumeFrom && world.isMain) logWriter.dropAfter(state.global_step);
  logWriter.reset(maxSteps, run.prior?.runtime ?? 0);
  if (world.isMain) writeTrainingArgsYaml(join(outputDir, 'training_args.yaml'), args);
  log(stage.plan.banner);
  const trackers = openTrackers(world.isMain ? args : withoutTrackers(args), outputDir, log);
  if (args.finetuning.pissa_init && args.finetuning.pissa_convert && world.isMain) {
    run.model.savePissaAdapter(join(outputDir, 'pissa_init'), 'initial');
    log(`Initial PiSSA adapter saved at: ${join(outputDir, 'pissa_init')}`);
  }

  const current = state;
  const checkpointer = new Checkpointer(
    outputDir,
    () => current,
    parts,
    ta.save_total_limit,
    options.events?.onSave,
    run.resumeFrom ? state.global_step : null,
  );
  const everyCallback = trainingCallbacks({
    args,
    state,
    stage,
    scheduler,
    logWriter,
    checkpointer,
    options,
    trackers,
  });
  // Rank 0 alone logs, evaluates and saves; the other ranks wait for it at the end of each step.
  const callbacks = world.isMain ? everyCallback.callbacks : [];
  const lastEvalLoss = everyCallback.lastEvalLoss;
  world.afterTimeout = () =>
    checkpointer.lastSaved > 0
      ? ` The last checkpoint, ${checkpointer.dirOf(checkpointer.lastSaved)}, is complete: run the same command again to resume from it.`
      : ' No checkpoint was saved yet (save_steps): the same command starts over.';
  // Clip, check, update, clear: the stage calls it after each optimizer update's backward passes.
  const optimize: Optimize = (loss) => {
    if (overlap?.active) overlap.finish();
    else if (world.size > 1) reduceGradients(run.trainable);
    const grads = run.trainable.map(([, t]) => t.grad);
    const norm = ta.max_grad_norm > 0 ? clipGradNorm_(grads, ta.max_grad_norm) : gradNorm(grads);
    if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
      optimizer.zeroGrad();
      zero?.gatherForSave();
      const dir = world.isMain ? checkpointer.save() : checkpointer.dirOf(state.global_step);
      world.barrier('the save before stopping on a non-finite update');
      const [what, value] = Number.isFinite(loss) ? ['gradient norm', norm] : ['loss', loss];
      throw new TrainError(
        `the ${what} became ${value} at step ${state.global_step + 1}; the weights before this update are saved in ${dir}. ${stage.nonFiniteAdvice(dir)}`,
      );
    }
    optimizer.step();
    optimizer.zeroGrad();
    return norm;
  };

  counter.start();
  let interrupted = false;
  useOverlap(overlap);
  try {
    while (state.global_step < maxSteps) {
      const step = state.global_step;
      if (world.size > 1) injectFaultAt(step + 1);
      const usedLr = scheduler.lr;
      applyScheduledLr(optimizer.paramGroups, initialLrs, ta.learning_rate, usedLr);
      const outcome = await stage.trainStep(step, optimize);
      scheduler.step();
      state.global_step = step + 1;
      state.epoch = stage.plan.epochAfter(step);
      state.num_input_tokens_seen += outcome.inputTokens;
      counter.addStep(outcome.loss);
      const report = {
        outcome,
        lr: stage.reportsLr === 'next' ? scheduler.lr : usedLr,
        nextLr: scheduler.lr,
        endsEpoch: stage.plan.endsEpoch(step),
        last: state.global_step === maxSteps,
      };
      // ZeRO-1: rank 0's save (a callback) writes every rank's optimizer state, gathered by all ranks first.
      if (zero && saveDue(ta, state, report)) zero.gatherForSave();
      for (const c of callbacks) c.onStep(report);
      // Let signals (Ctrl-C) and timers run between steps.
      await new Promise((r) => setImmediate(r));
      world.barrier(`the end of step ${state.global_step}`);
      // The ranks stop together: any rank's Ctrl-C stops them all.
      const aborted = (world.sumValues([options.signal?.aborted ? 1 : 0])[0] as number) > 0;
      if (aborted && !report.last) {
        interrupted = true;
        zero?.gatherForSave();
        if (checkpointer.lastSaved !== state.global_step && world.isMain) checkpointer.save();
        world.barrier(`the save of checkpoint-${state.global_step}`);
        log(interruptedMessage(state.global_step, maxSteps, checkpointer.dirOf(state.global_step), stage, args));
        break;
      }
    }
  } finally {
    useOverlap(null);
    endAll(callbacks);
    await trackers.finish();
  }

  if (zero) reportZeroState(zero, world);
  const totals = counter.totals();
  noteMissingRecord(run, log);
  const outputs = interrupted || !world.isMain ? {} : await writeOutputs(run, args, state, totals, options, log);
  world.barrier('the end of training (rank 0 writes the outputs)');
  const evalLoss = outputs.evalLoss ?? lastEvalLoss();
  return result(state, trainLossOf(totals), {
    trained: true,
    interrupted,
    ...(evalLoss === undefined ? {} : { evalLoss }),
    ...(outputs.predictMetrics ? { predictMetrics: outputs.predictMetrics } : {}),
  });

  function result(
    s: TrainerState,
    trainLoss: number,
    rest: Partial<TrainResult> & { trained: boolean; interrupted: boolean },
  ): TrainResult {
    return { outputDir, globalStep: s.global_step, maxSteps, trainLoss, logHistory: s.log_history, ...rest };
  }
}

/**
 * DDP's gradient sync after the backward (stages that do not run their backward through lastBackward, ppo; or
 * LMFORGE_DDP_OVERLAP=0): the summed gradients in 25 MiB buckets (the stage has passed a barrier that names a missing rank just before). A weight
 * without a gradient on this rank joins with zeros, so every rank reduces the same buffers.
 */
function reduceGradients(trainable: readonly [string, Tensor][]): void {
  const world = currentWorld();
  for (const [, t] of trainable) t.grad ??= Tensor.zeros(t.shape);
  world.sumTensors_(trainable.map(([, t]) => t.grad as Tensor));
}

/** Each rank's optimizer-state bytes beside one process's (the sum over ranks), on stderr: ZeRO-1's saving. */
function reportZeroState(zero: ZeroOneOptimizer, world: ReturnType<typeof currentWorld>): void {
  const mine = zero.stateBytes();
  const whole = world.sumValues([mine])[0] as number;
  const owned = zero.owners.filter((r) => r === world.rank).length;
  process.stderr.write(
    `[lmforge] rank ${world.rank}/${world.size}: ZeRO-1 optimizer state ${mine} bytes of ${whole} (${owned} of ${zero.owners.length} parameters)\n`,
  );
}

/** ddp_bucket_cap_mb (DDP's 25 MiB when unset) in bytes. */
function bucketBytesOf(ta: TrainArgs['training']): number {
  const mb = ta.ddp_bucket_cap_mb;
  return mb === null || mb === undefined ? DEFAULT_BUCKET_BYTES : Math.max(1, mb) * 1024 * 1024;
}

function withoutTrackers(args: TrainArgs): TrainArgs {
  return {
    ...args,
    training: { ...args.training, report_to: ['none'] },
    finetuning: { ...args.finetuning, use_swanlab: false },
  } as TrainArgs;
}

function endAll(callbacks: readonly Callback[]): void {
  for (const c of callbacks) c.onEnd?.();
}

function interruptedMessage(
  step: number,
  maxSteps: number,
  dir: string,
  stage: { resumable: boolean },
  args: TrainArgs,
): string {
  if (!stage.resumable)
    return `interrupted at step ${step}/${maxSteps}; the weights so far are in ${dir} (stage ${args.finetuning.stage} cannot resume: start a new run from them with adapter_name_or_path)`;
  const how = args.training.overwrite_output_dir
    ? `resume with resume_from_checkpoint: ${dir} (with overwrite_output_dir: true the same command starts over)`
    : 'run the same command again to resume';
  return `interrupted at step ${step}/${maxSteps}; checkpoint saved in ${dir} — ${how}`;
}

function isTrainArgs(x: unknown): x is TrainArgs {
  return typeof x === 'object' && x !== null && 'finetuning' in x && 'training' in x && 'given' in x;
}
