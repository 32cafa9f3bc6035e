/**
 * HF Trainer's batching around a per-micro-batch objective (sft, rm, dpo, kto): each step is one optimizer update
 * over gradient_accumulation_steps micro-batches of the seeded data order (data-order.ts); the step's loss is the sum
 * of the micro-batches' shares; evaluation averages the eval batches weighted by the samples they hold.
 */

import { lastBackward } from '../dist/overlap.js';
import { currentWorld, type World } from '../dist/world.js';
import type { TrainArgs } from '../hparams/index.js';
import type { CausalLM } from '../models/causal-lm.js';
import { DataOrder } from './data-order.js';
import { pyRound } from './py-format.js';
import { rankSlices } from './rank-shard.js';
import { TrainError } from './run-setup.js';
import { type Metrics, meanMetrics, type Objective, type Stage, type StepOutcome } from './stage.js';

export interface AccumulationContext {
  model: CausalLM;
  args: TrainArgs;
  trainSet: readonly unknown[];
  /** Records to evaluate on; none (or records tokenized for generation, which hold no labels) means no evaluation. */
  evalSet: readonly unknown[];
}

export function accumulatingStage(objective: Objective, ctx: AccumulationContext): Stage {
  const { model, trainSet, evalSet } = ctx;
  const { training: ta, finetuning: fa } = ctx.args;
  const world = currentWorld();
  // One global order for every rank: its micro-batches hold every rank's per-device batch (rank-shard.ts).
  const order = new DataOrder(
    trainSet.length,
    ta.per_device_train_batch_size * world.size,
    ta.gradient_accumulation_steps,
    ta.seed,
    !fa.disable_shuffling,
  );
  const perEpoch = order.updatesPerEpoch;
  const maxSteps = ta.max_steps > 0 ? ta.max_steps : Math.ceil(ta.num_train_epochs * perEpoch);
  if (maxSteps <= 0)
    throw new TrainError(
      `num_train_epochs ${ta.num_train_epochs} with ${perEpoch} updates per epoch gives 0 optimization steps: nothing would be trained (and ${ta.output_dir} would get an untrained model); set num_train_epochs or max_steps above 0`,
    );
  const numTrainEpochs = ta.max_steps > 0 ? Math.ceil(ta.max_steps / perEpoch) : Math.ceil(ta.num_train_epochs);
  const summarize = (entries: readonly Metrics[]) => (objective.summarize ?? meanMetrics)(entries);
  // Records tokenized for generation hold the prompt only: there is no eval loss to compute on them.
  const evaluates = evalSet.length > 0 && !ta.predict_with_generate;

  const stage: Stage = {
    plan: {
      maxSteps,
      numTrainEpochs,
      scheduleSteps: maxSteps,
      epochAfter: (step) => Math.floor(step / perEpoch) + ((step % perEpoch) + 1) / perEpoch,
      endsEpoch: (step) => (step + 1) % perEpoch === 0,
      samples:
        ta.max_steps > 0
          ? maxSteps * ta.per_device_train_batch_size * world.size * ta.gradient_accumulation_steps
          : trainSet.length * ta.num_train_epochs,
      banner: `***** Running training ***** examples ${trainSet.length}, epochs ${numTrainEpochs}, batch ${ta.per_device_train_batch_size}${world.size > 1 ? ` x ${world.size} ranks` : ''} x accumulation ${ta.gradient_accumulation_steps}, optimization steps ${maxSteps}`,
    },
    trainStep(step, optimize): StepOutcome {
      // [micro-batch][rank] -> collated batch. Every rank collates the whole update: the objectives normalise by
      // all of it (sft by its token count, the others by its batch count), so the ranks' shares add up to the
      // update's loss and gradient, and summing the gradients over the ranks gives one process's.
      const byRank = order
        .update(step)
        .microBatches.map((idx) =>
          rankSlices(idx, world.size, ta.per_device_train_batch_size).map((s) =>
            objective.collate(s.map((i) => trainSet[i])),
          ),
        );
      const update = byRank.flat();
      let loss = 0;
      const metrics: Metrics[] = [];
      for (const [k, mine] of byRank.entries()) {
        // The last micro-batch's backward completes the update's gradients: their allreduce overlaps it (DDP).
        const run = () => objective.step(mine[world.rank], update);
        const result = k === byRank.length - 1 ? lastBackward(run) : run();
        loss += result.loss;
        metrics.push(result.metrics);
      }
      const inputTokens = update.reduce((n: number, b) => n + objective.inputTokens(b), 0);
      // The first collective of the step: a barrier that names a rank that never comes (died or hangs).
      world.barrier(`step ${step + 1}'s gradient sync`);
      const combined = world.size > 1 ? combineOverRanks(world, loss, metrics) : { loss, metrics };
      return { loss: combined.loss, gradNorm: optimize(combined.loss), metrics: combined.metrics, inputTokens };
    },
    // Trainer._maybe_log_save_evaluate: the loss averaged over the interval, the last norm, the next step's lr.
    logMetrics(interval, lr) {
      const loss = interval.reduce((a, o) => a + o.loss, 0) / interval.length;
      return {
        loss: pyRound(loss, 4),
        grad_norm: interval.at(-1)?.gradNorm ?? Number.NaN,
        learning_rate: lr,
        // a stage's metrics follow (TRL's trainers add their stored metrics to HF's logs)
        ...summarize(interval.flatMap((o) => o.metrics)),
      };
    },
    reportsLr: 'next',
    resumable: true,
    nonFiniteAdvice: (dir) =>
      `Lower learning_rate, set max_grad_norm (e.g. 1.0), use bf16 rather than fp16, and check the data for empty or broken examples; then resume with resume_from_checkpoint: ${dir}`,
    plotKeys: objective.plotKeys,
  };
  if (evaluates) stage.evaluate = () => evaluate(objective, model, evalSet, ta.per_device_eval_batch_size);
  if (objective.extraParameters) stage.extraParameters = () => objective.extraParameters?.() ?? [];
  if (objective.saveExtra) stage.saveExtra = (dir) => objective.saveExtra?.(dir);
  if (objective.loadExtra) stage.loadExtra = (dir) => objective.loadExtra?.(dir);
  if (objective.dispose) stage.dispose = () => objective.dispose?.();
  return stage;
}

/**
 * The update's loss (the sum of the ranks' shares) and each micro-batch's metrics averaged over the ranks that
 * logged them (a kto micro-batch without chosen examples on one rank logs no chosen rewards there).
 */
function combineOverRanks(
  world: World,
  loss: number,
  metrics: readonly Metrics[],
): { loss: number; metrics: Metrics[] } {
  const total = world.sumValues([loss])[0] as number;
  const everyRank = world.gather(metrics);
  const averaged = metrics.map((_, i) => meanMetrics(everyRank.map((m) => m[i] ?? {})));
  return { loss: total, metrics: averaged };
}

/** eval_loss and the objective's eval_ metrics: each batch weighs the samples it holds. */
function evaluate(objective: Objective, model: CausalLM, evalSet: readonly unknown[], batchSize: number): Metrics {
  model.eval();
  let sum = 0;
  let count = 0;
  const sums = new Map<string, number>();
  for (let i = 0; i < evalSet.length; i += batchSize) {
    const result = objective.evaluate(objective.collate(evalSet.slice(i, i + batchSize)));
    if (!Number.isFinite(result.loss)) continue;
    sum += result.loss * result.count;
    count += result.count;
    for (const [k, v] of Object.entries<number>(result.metrics)) sums.set(k, (sums.get(k) ?? 0) + v * result.count);
  }
  model.train();
  const metrics: Metrics = { eval_loss: count > 0 ? sum / count : Number.NaN };
  for (const [k, v] of sums) metrics[`eval_${k}`] = v / count;
  return metrics;
}
