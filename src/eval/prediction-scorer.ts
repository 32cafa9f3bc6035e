/**
 * Scores do_predict's generations as they come, batch by batch, for the `metrics` list: each sample's own scores
 * (BLEU-4, ROUGE-1/2/L, exact match, label correctness, SQL verdict) are returned for sample_scores.jsonl, and only
 * what the averages need is kept (numbers per sample, label counts), never the texts. The averages are the numpy
 * means of the per-sample numbers, so the mean of sample_scores.jsonl's column is predict_results.json's value.
 * A custom metric reads the texts back from generated_predictions.jsonl at the end.
 */
import type { Text2SqlMeta } from '../data/text2sql.js';
import type { PredictMetric } from '../hparams/finetuning-args.js';
import { ClassificationTally } from './classification.js';
import { type CustomMetricFn, loadCustomMetric, type PredictionRecord, runCustomMetric } from './custom-metric.js';
import { type SampleSimilarity, sampleSimilarity } from './metrics.js';
import { numpyMean } from './python-math.js';
import { judgeSql, type SqlVerdict, sqlExecutionMetrics } from './sql-execution.js';
import { SqlRunner } from './sql-runner.js';

export interface ScorerOptions {
  metrics: readonly PredictMetric[];
  /** the label set of accuracy/precision/recall/f1; null = the gold labels seen */
  labels?: readonly string[] | null;
  /** path of a custom metric module */
  customMetric?: string | null;
  /** seconds one query may run (sql_execution) */
  sqlTimeout?: number;
}

export interface SampleToScore {
  /** decoded with special tokens skipped, as compute_metrics decodes */
  prediction: string;
  reference: string;
  /** the record's database (text2sql datasets), for sql_execution */
  sql?: Text2SqlMeta | null;
}

/** One line of sample_scores.jsonl (without its index). */
export type SampleScores = Record<string, number | boolean | string>;

const SIMILARITY_KEYS = { bleu: ['bleu-4'], rouge: ['rouge-1', 'rouge-2', 'rouge-l'] } as const;

export class PredictionScorer {
  private readonly wanted: ReadonlySet<PredictMetric>;
  private readonly columns = new Map<string, number[]>();
  private readonly tally: ClassificationTally | null;
  private readonly verdicts: SqlVerdict[] = [];
  private runner: SqlRunner | null = null;

  private constructor(
    private readonly options: ScorerOptions,
    private readonly custom: CustomMetricFn | null,
  ) {
    this.wanted = new Set(options.metrics);
    const classifies = ['accuracy', 'precision', 'recall', 'f1'].some((m) => this.wanted.has(m as PredictMetric));
    this.tally = classifies ? new ClassificationTally(options.labels ?? null) : null;
  }

  /** Loads the custom metric first, so a broken module fails before any generation. */
  static async create(options: ScorerOptions): Promise<PredictionScorer> {
    const custom = options.customMetric ? await loadCustomMetric(options.customMetric) : null;
    return new PredictionScorer(options, custom);
  }

  async scoreBatch(samples: readonly SampleToScore[]): Promise<SampleScores[]> {
    const out: SampleScores[] = [];
    for (const s of samples) {
      const scores: SampleScores = {};
      if (this.wanted.has('bleu') || this.wanted.has('rouge')) {
        const similarity = sampleSimilarity(s.prediction, s.reference);
        for (const metric of ['bleu', 'rouge'] as const) {
          if (!this.wanted.has(metric)) continue;
          for (const key of SIMILARITY_KEYS[metric]) this.keep(key, similarity[key as keyof SampleSimilarity], scores);
        }
      }
      if (this.wanted.has('exact_match'))
        this.keep('exact_match', s.prediction.trim() === s.reference.trim() ? 100 : 0, scores);
      if (this.tally) scores.label_correct = this.tally.add(s.prediction, s.reference);
      if (this.wanted.has('sql_execution')) {
        this.runner ??= new SqlRunner((this.options.sqlTimeout ?? 5) * 1000);
        const judged = await judgeSql(this.runner, s.sql ?? null, s.prediction, s.reference);
        this.verdicts.push(judged.verdict);
        scores.sql_verdict = judged.verdict;
        scores.sql = judged.sql;
        if (judged.error !== undefined) scores.sql_error = judged.error;
      }
      out.push(scores);
    }
    return out;
  }

  /** The averages, with LLaMA-Factory's key style (predict_bleu-4, predict_rouge-1, ...). */
  async finish(readBack: () => PredictionRecord[]): Promise<Record<string, number>> {
    const metrics: Record<string, number> = {};
    for (const [key, values] of this.columns) metrics[`predict_${key}`] = numpyMean(values);
    if (this.tally) {
      if (this.wanted.has('accuracy')) metrics.predict_accuracy = this.tally.accuracy();
      Object.assign(
        metrics,
        this.tally.metrics({
          precision: this.wanted.has('precision'),
          recall: this.wanted.has('recall'),
          f1: this.wanted.has('f1'),
        }),
      );
    }
    if (this.wanted.has('sql_execution')) Object.assign(metrics, sqlExecutionMetrics(this.verdicts));
    if (this.custom && this.options.customMetric) {
      const records = readBack();
      Object.assign(
        metrics,
        await runCustomMetric(
          this.options.customMetric,
          this.custom,
          records.map((r) => r.predict),
          records.map((r) => r.label),
          records,
        ),
      );
    }
    return metrics;
  }

  /** Verdict counts of sql_execution so far (for the log). */
  sqlVerdicts(): readonly SqlVerdict[] {
    return this.verdicts;
  }

  close(): void {
    this.runner?.close();
    this.runner = null;
  }

  private keep(key: string, value: number, scores: SampleScores): void {
    scores[key] = value;
    let column = this.columns.get(key);
    if (!column) {
      column = [];
      this.columns.set(key, column);
    }
    column.push(value);
  }
}
