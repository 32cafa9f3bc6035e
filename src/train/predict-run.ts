/**
 * do_predict (LLaMA-Factory's run_sft with predict_with_generate): after training, or on its own with the model and
 * its adapters frozen, generate for the eval set and write generated_predictions.jsonl and predict_results.json.
 */

import { getTokenizedDataset } from '../data/preprocess.js';
import type { SupervisedRecord } from '../data/processors/types.js';
import type { Template } from '../data/template/index.js';
import type { Text2SqlMeta } from '../data/text2sql.js';
import { type PredictMetric, quantizationOf, type TrainArgs } from '../hparams/index.js';
import { isModelSource } from '../io/model-source.js';
import { type CausalLM, loadModel } from '../models/causal-lm.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { metricsReport } from './metrics-report.js';
import { predict } from './predict.js';
import type { Metrics } from './results.js';
import { TrainError } from './run-setup.js';
import { templateFor } from './template-setup.js';
import type { TrainOptions, TrainResult } from './train-options.js';

/** do_predict after training, or on its own: generate for the eval set and write the prediction files. */
export async function runPredict(
  model: CausalLM,
  tokenizer: Tokenizer,
  template: Template,
  evalSet: readonly SupervisedRecord[],
  args: TrainArgs,
  options: TrainOptions,
  log: (m: string) => void,
  evalSql?: readonly (Text2SqlMeta | null)[],
): Promise<Metrics | null> {
  const { training: ta, finetuning: fa } = args;
  if (fa.metrics.includes('sql_execution') && !evalSql)
    throw new TrainError(
      'metrics: sql_execution needs a text2sql eval_dataset ("formatting": "text2sql" in dataset_info.json), whose records name their database',
    );
  if (evalSet.length === 0)
    throw new TrainError('do_predict needs examples to predict: set eval_dataset (or val_size) and check cutoff_len');
  log(`***** Running prediction ***** examples ${evalSet.length}, batch ${ta.per_device_eval_batch_size}`);
  const { metrics, complete } = await predict({
    model,
    tokenizer,
    template,
    records: evalSet,
    ...(evalSql ? { evalSql } : {}),
    generating: args.generating,
    batchSize: ta.per_device_eval_batch_size,
    accumulationSteps: ta.eval_accumulation_steps,
    scoring: {
      metrics: fa.metrics as PredictMetric[],
      labels: fa.metric_labels,
      customMetric: fa.custom_metric,
      sqlTimeout: fa.sql_timeout,
    },
    outputDir: ta.output_dir,
    seed: ta.seed,
    log,
    ...(options.progress === undefined ? {} : { progress: options.progress }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!complete) {
    log('prediction interrupted: no prediction files written');
    return null;
  }
  // As HF's log_metrics: rounded for the eye; predict_results.json keeps the raw numbers.
  for (const line of metricsReport('predict', metrics)) log(line);
  log(`wrote generated_predictions.jsonl, sample_scores.jsonl and predict_results.json in ${ta.output_dir}`);
  return metrics;
}

/** do_predict without do_train (LLaMA-Factory's run_sft): the model with its adapters, frozen, on the eval set. */
export async function predictOnly(
  args: TrainArgs,
  options: TrainOptions,
  log: (m: string) => void,
): Promise<TrainResult> {
  const { model: ma, data: da, finetuning: fa, training: ta } = args;
  const modelDir = ma.model_name_or_path as string;
  if (!isModelSource(modelDir))
    throw new TrainError(
      `model_name_or_path ${modelDir} is not a local Hugging Face model folder (no config.json) or GGUF file`,
    );
  const tokenizer = Tokenizer.fromDir(modelDir);
  const template = templateFor(tokenizer, args, log);
  const adapters = ma.adapter_name_or_path ?? [];
  if (adapters.length > 0 && fa.finetuning_type !== 'lora')
    throw new TrainError('adapter_name_or_path needs finetuning_type: lora');
  const quantization = quantizationOf(ma);
  const model = await loadModel(modelDir, {
    ...(adapters.length > 0 ? { adapter: adapters } : {}),
    ...(quantization ? { quantization } : {}),
  });
  let metrics: Metrics | null;
  try {
    model.freezeAll();
    const dataset = await getTokenizedDataset(
      { ...da, seed: ta.seed, predict_with_generate: true } as Parameters<typeof getTokenizedDataset>[0],
      fa.stage as 'sft', // checked by train(): predict_with_generate is sft-only
      tokenizer,
      template,
      { log },
    );
    metrics = await runPredict(
      model,
      tokenizer,
      template,
      (dataset.eval_dataset ?? []) as SupervisedRecord[],
      args,
      options,
      log,
      dataset.eval_sql,
    );
  } finally {
    model.dispose();
  }
  return {
    outputDir: ta.output_dir,
    globalStep: 0,
    maxSteps: 0,
    trainLoss: Number.NaN,
    trained: false,
    interrupted: metrics === null,
    logHistory: [],
    ...(metrics ? { predictMetrics: metrics } : {}),
  };
}
