/**
 * The files a finished run leaves at the top of output_dir, as LLaMA-Factory's workflows write them: the adapter or
 * model (+ a stage's extra weights), the tokenizer with its chat template, trainer_state.json, train_results.json
 * (the whole run, every resumed part included), eval_results.json, the loss plots, and do_predict's predictions.
 */
import { join } from 'node:path';
import type { SupervisedRecord } from '../data/processors/types.js';
import type { TrainArgs } from '../hparams/index.js';
import { plotLoss } from './plot.js';
import { runPredict } from './predict-run.js';
import { type Metrics, perplexity, saveMetrics, speedMetrics } from './results.js';
import { RUN_RECORD_NAME, type RunTotals } from './run-record.js';
import type { PreparedRun } from './setup.js';
import type { TrainOptions } from './train-options.js';
import type { TrainerState } from './trainer-state.js';

export interface RunOutputs {
  /** eval_loss of the final evaluation, when the run evaluates. */
  evalLoss?: number;
  /** do_predict's metrics (predict_bleu-4, ...), when it ran to the end. */
  predictMetrics?: Metrics;
}

export async function writeOutputs(
  run: PreparedRun,
  args: TrainArgs,
  state: TrainerState,
  totals: RunTotals,
  options: TrainOptions,
  log: (message: string) => void,
): Promise<RunOutputs> {
  const { model, stage, outputDir } = run;
  const { finetuning: fa, training: ta } = args;
  if (model.adapterConfig) model.saveAdapter(outputDir);
  // The run's tokenizer (its template's chat template included) is written below, not the base folder's files.
  else model.save(outputDir, { tokenizer: false });
  if (fa.pissa_init && fa.pissa_convert) {
    const dir = join(outputDir, 'pissa_converted');
    model.savePissaAdapter(dir, 'converted');
    log(`PiSSA adapter converted to a LoRA adapter for the original model: ${dir}`);
  }
  stage.saveExtra?.(outputDir);
  run.tokenizer.save(outputDir);
  state.save(outputDir);

  // Without a run record the runtime covers only this part: count only its samples.
  const samples =
    run.prior || !run.resumeFrom ? stage.plan.samples : (stage.plan.samples * totals.steps) / state.max_steps;
  saveMetrics(outputDir, 'train', {
    epoch: state.epoch ?? 0,
    train_loss: trainLossOf(totals),
    ...speedMetrics('train', totals.runtime, { samples, steps: totals.steps }),
    ...(state.num_input_tokens_seen ? { num_input_tokens_seen: state.num_input_tokens_seen } : {}),
  });
  const out: RunOutputs = {};
  if (stage.evaluate && ta.eval_strategy !== 'no') {
    const metrics: Metrics = { epoch: state.epoch ?? 0, ...stage.evaluate() };
    out.evalLoss = metrics.eval_loss as number;
    if (fa.stage === 'pt') metrics.perplexity = perplexity(out.evalLoss);
    saveMetrics(outputDir, 'eval', metrics);
  }
  if (fa.plot_loss) {
    const { written } = plotLoss(outputDir, ['loss', 'eval_loss', ...stage.plotKeys]);
    for (const f of written) log(`wrote ${f}`);
  }
  if (ta.do_predict) {
    const metrics = await runPredict(
      model,
      run.tokenizer,
      run.template,
      run.evalSet as SupervisedRecord[],
      args,
      options,
      log,
      run.evalSql,
    );
    if (metrics) out.predictMetrics = metrics;
  }
  return out;
}

/** HF's train_loss: the mean of the per-step losses over every step of the run. */
export function trainLossOf(totals: RunTotals): number {
  return totals.steps > 0 ? totals.loss_sum / totals.steps : Number.NaN;
}

/** A note when the resumed checkpoint predates run records (its totals start at the resume). */
export function noteMissingRecord(run: PreparedRun, log: (message: string) => void): void {
  if (run.resumeFrom && !run.prior)
    log(
      `note: ${run.resumeFrom} has no ${RUN_RECORD_NAME} (an older lmforge wrote it): train_loss and train_runtime cover only the steps since the resume`,
    );
}
