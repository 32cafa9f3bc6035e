/**
 * Batch prediction (LLaMA-Factory's run_sft with do_predict + predict_with_generate): every eval record's prompt is
 * generated from in batches of per_device_eval_batch_size (left-padded by generate, decoding as the generating
 * arguments say), then BLEU-4 / ROUGE against the reference are computed as ComputeSimilarity does, and
 * generated_predictions.jsonl + predict_results.json (+ all_results.json) are written to output_dir.
 */
import type { SupervisedRecord } from '../data/processors/types.js';
import type { Template } from '../data/template/template.js';
import { computeSimilarity, writePredictions } from '../eval/metrics.js';
import { type GeneratingArgs, samplingOptions } from '../hparams/generating-args.js';
import type { CausalLM } from '../models/causal-lm.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { pushAll } from '../util/arrays.js';
import type { ProgressStream } from './progress.js';
import { Progress } from './progress.js';
import { saveMetrics, speedMetrics } from './results.js';

export interface PredictOptions {
  model: CausalLM;
  tokenizer: Tokenizer;
  template: Template;
  /** Tokenized for generation: input_ids = the prompt, labels = the reference answer's ids. */
  records: readonly SupervisedRecord[];
  generating: GeneratingArgs;
  batchSize: number;
  outputDir: string;
  seed: number;
  progress?: ProgressStream | false;
  signal?: AbortSignal;
}

export interface PredictResult {
  metrics: Record<string, number>;
  /** False when the signal stopped it before every record was generated (nothing is written then). */
  complete: boolean;
}

export function predict(o: PredictOptions): PredictResult {
  const { model, tokenizer, template, records, generating: g } = o;
  if (g.num_beams > 1) throw new Error('num_beams > 1 (beam search) is not implemented; use num_beams: 1');
  const stop = template.stopIds(tokenizer);
  const pad = tokenizer.padTokenId ?? tokenizer.eosTokenId ?? 0;
  const sampling = samplingOptions(g);
  const started = performance.now();
  const predictions: number[][] = [];
  const steps = Math.ceil(records.length / o.batchSize);
  const progress =
    o.progress === false ? null : new Progress({ stream: o.progress ?? process.stderr, label: 'predict' });
  progress?.start(0, steps);
  try {
    for (let step = 0; step < steps; step++) {
      if (o.signal?.aborted) return { metrics: {}, complete: false };
      const batch = records.slice(step * o.batchSize, (step + 1) * o.batchSize);
      const { tokens } = model.generateDetailed(
        batch.map((r) => r.input_ids),
        {
          maxNewTokens: g.max_new_tokens,
          ...sampling,
          stop,
          padTokenId: pad,
          // One seed per batch, so a batch's draws do not depend on the batches before it.
          seed: o.seed + step,
          ...(o.signal ? { signal: o.signal } : {}),
        },
      );
      pushAll(predictions, tokens);
      progress?.update({ step: step + 1, total: steps });
    }
  } finally {
    progress?.done();
  }
  const runtime = (performance.now() - started) / 1000;
  // save_predictions: the prompt with its special tokens, the prediction and label as the generating args decode.
  const skipSpecialTokens = g.skip_special_tokens;
  const rows = records.map((r, i) => ({
    prompt: tokenizer.decode(r.input_ids, { skipSpecialTokens: false }),
    predict: tokenizer.decode(predictions[i] as number[], { skipSpecialTokens }),
    label: tokenizer.decode(labelIds(r.labels), { skipSpecialTokens }),
  }));
  // compute_metrics decodes with skip_special_tokens=True whatever the argument says.
  const similarity = computeSimilarity(
    predictions.map((p) => tokenizer.decode(p, { skipSpecialTokens: true })),
    records.map((r) => tokenizer.decode(labelIds(r.labels), { skipSpecialTokens: true })),
  );
  const metrics: Record<string, number> = {
    ...similarity,
    ...speedMetrics('predict', runtime, { samples: records.length, steps }),
  };
  writePredictions(o.outputDir, rows, metrics);
  saveMetrics(o.outputDir, 'predict', metrics);
  return { metrics, complete: true };
}

/** Reference ids without ignored positions (-100). */
function labelIds(labels: readonly number[]): number[] {
  return labels.filter((id) => id >= 0);
}
