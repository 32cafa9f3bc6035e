/**
 * Batch prediction (LLaMA-Factory's run_sft with do_predict + predict_with_generate): every eval record's prompt is
 * generated from in batches of per_device_eval_batch_size (left-padded by generate, decoding as the generating
 * arguments say). Each batch is scored as it comes (the `metrics` list: BLEU-4 / ROUGE as ComputeSimilarity,
 * exact match, labels, SQL execution) and streamed to generated_predictions.jsonl and sample_scores.jsonl, so a long
 * run holds one batch of generated ids, never all of them and never any logits; predict_results.json (+
 * all_results.json) follow when every sample is done.
 */
import type { SupervisedRecord } from '../data/processors/types.js';
import type { Template } from '../data/template/template.js';
import type { Text2SqlMeta } from '../data/text2sql.js';
import type { PredictionRecord } from '../eval/custom-metric.js';
import { PredictionScorer, type ScorerOptions } from '../eval/prediction-scorer.js';
import { PredictionWriter } from '../eval/prediction-writer.js';
import { type GeneratingArgs, samplingOptions } from '../hparams/generating-args.js';
import type { CausalLM } from '../models/causal-lm.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { predictGeneration } from './predict-generation.js';
import type { ProgressStream } from './progress.js';
import { Progress } from './progress.js';
import { saveMetrics, speedMetrics } from './results.js';

export interface PredictOptions {
  model: CausalLM;
  tokenizer: Tokenizer;
  template: Template;
  /** Tokenized for generation: input_ids = the prompt, labels = the reference answer's ids. */
  records: readonly SupervisedRecord[];
  /** text2sql eval sets: each record's database, for sql_execution */
  evalSql?: readonly (Text2SqlMeta | null)[];
  generating: GeneratingArgs;
  batchSize: number;
  /** eval_accumulation_steps: batches kept in memory before they are written (default 1) */
  accumulationSteps?: number | null;
  /** what to score; default BLEU and ROUGE, as LLaMA-Factory */
  scoring?: ScorerOptions;
  outputDir: string;
  seed: number;
  progress?: ProgressStream | false;
  signal?: AbortSignal;
  /** Says how generation runs (scheduler or left-padded batches). */
  log?: (message: string) => void;
}

export interface PredictResult {
  metrics: Record<string, number>;
  /** False when the signal stopped it before every record was generated (nothing is written then). */
  complete: boolean;
}

export async function predict(o: PredictOptions): Promise<PredictResult> {
  const { model, tokenizer, template, records, generating: g } = o;
  if (g.num_beams > 1) throw new Error('num_beams > 1 (beam search) is not implemented; use num_beams: 1');
  const stop = template.stopIds(tokenizer);
  const pad = tokenizer.padTokenId ?? tokenizer.eosTokenId ?? 0;
  const sampling = samplingOptions(g);
  const started = performance.now();
  const steps = Math.ceil(records.length / o.batchSize);
  const scorer = await PredictionScorer.create(o.scoring ?? { metrics: ['bleu', 'rouge'] });
  const writer = new PredictionWriter(o.outputDir, o.accumulationSteps ?? 1);
  const progress =
    o.progress === false ? null : new Progress({ stream: o.progress ?? process.stderr, label: 'predict' });
  progress?.start(0, steps);
  let committed = false;
  const generation = predictGeneration(
    model,
    records.map((r) => r.input_ids),
    {
      maxNewTokens: g.max_new_tokens,
      sampling,
      stop,
      padTokenId: pad,
      batchSize: o.batchSize,
      seed: o.seed,
      ...(o.signal ? { signal: o.signal } : {}),
    },
  );
  o.log?.(
    generation.scheduled
      ? `decoding through the continuous-batching scheduler, ${o.batchSize} sequences at a time`
      : 'decoding left-padded batches (this family has no paged attention path)',
  );
  try {
    for (let step = 0; step < steps; step++) {
      if (o.signal?.aborted) return { metrics: {}, complete: false };
      const first = step * o.batchSize;
      const batch = records.slice(first, first + o.batchSize);
      const tokens = await generation.batch(step);
      if (!tokens || o.signal?.aborted) return { metrics: {}, complete: false };
      // save_predictions: the prompt with its special tokens, the prediction and label as the generating args decode.
      const rows = batch.map((r, i) => ({
        prompt: tokenizer.decode(r.input_ids, { skipSpecialTokens: false }),
        predict: tokenizer.decode(tokens[i] as number[], { skipSpecialTokens: g.skip_special_tokens }),
        label: tokenizer.decode(labelIds(r.labels), { skipSpecialTokens: g.skip_special_tokens }),
      }));
      // compute_metrics decodes with skip_special_tokens=True whatever the argument says.
      const scores = await scorer.scoreBatch(
        batch.map((r, i) => ({
          prediction: tokenizer.decode(tokens[i] as number[], { skipSpecialTokens: true }),
          reference: tokenizer.decode(labelIds(r.labels), { skipSpecialTokens: true }),
          sql: o.evalSql?.[first + i] ?? null,
        })),
      );
      writer.addBatch(rows, scores);
      progress?.update({ step: step + 1, total: steps });
    }
    const readBack = (): PredictionRecord[] =>
      writer.readBack().map((row, i) => {
        const dbId = o.evalSql?.[i]?.db_id;
        return dbId ? { ...row, db_id: dbId } : row;
      });
    const scored = await scorer.finish(readBack);
    const runtime = (performance.now() - started) / 1000;
    const metrics: Record<string, number> = {
      ...scored,
      ...speedMetrics('predict', runtime, { samples: records.length, steps }),
    };
    writer.commit();
    committed = true;
    saveMetrics(o.outputDir, 'predict', metrics);
    return { metrics, complete: true };
  } finally {
    await generation.close();
    if (!committed) writer.abort();
    scorer.close();
    progress?.done();
  }
}

/** Reference ids without ignored positions (-100). */
function labelIds(labels: readonly number[]): number[] {
  return labels.filter((id) => id >= 0);
}
