/**
 * What the Evaluate & Predict tab shows when a run has ended, read from the files the commands write:
 * - do_predict: predict_results.json (the averages) and the first rows of generated_predictions.jsonl joined with
 *   sample_scores.jsonl (each sample's prompt, prediction, label and own scores);
 * - lmforge eval: results.log (LLaMA-Factory's "Average / category" lines) and per-subject accuracy from
 *   results_detail.json, both in the run's results/ folder.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVAL_RESULTS_DIR } from './runs.js';

export interface PredictRow {
  index: number;
  prompt: string;
  predict: string;
  label: string;
  /** sample_scores.jsonl's line for this sample (bleu-4, rouge-*, sql_verdict, ...) without its index. */
  scores: Record<string, unknown>;
}

export interface PredictResults {
  /** predict_results.json, null until the run has written it. */
  metrics: Record<string, number> | null;
  /** Rows of generated_predictions.jsonl, at most `limit`. */
  rows: PredictRow[];
  /** Lines in generated_predictions.jsonl. */
  total: number;
}

export interface EvalResults {
  /** `name: accuracy` lines of results.log, in order (Average first, then the categories). */
  scores: Array<[string, number]>;
  /** Each subject's questions and how many were right. */
  subjects: Array<{ subject: string; questions: number; correct: number; accuracy: number }>;
}

function jsonLines(path: string, limit: number): { rows: Record<string, unknown>[]; total: number } {
  if (!existsSync(path)) return { rows: [], total: 0 };
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const rows: Record<string, unknown>[] = [];
  for (const line of lines.slice(0, limit)) {
    try {
      rows.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      rows.push({}); // a line still being written
    }
  }
  return { rows, total: lines.length };
}

export function readPredictResults(outputDir: string, limit = 50): PredictResults {
  const metricsPath = join(outputDir, 'predict_results.json');
  const metrics = existsSync(metricsPath)
    ? (JSON.parse(readFileSync(metricsPath, 'utf8')) as Record<string, number>)
    : null;
  const predictions = jsonLines(join(outputDir, 'generated_predictions.jsonl'), limit);
  const scores = jsonLines(join(outputDir, 'sample_scores.jsonl'), limit).rows;
  const rows = predictions.rows.map((p, i) => {
    const { index: _index, ...own } = scores[i] ?? {};
    return {
      index: i,
      prompt: String(p.prompt ?? ''),
      predict: String(p.predict ?? ''),
      label: String(p.label ?? ''),
      scores: own,
    };
  });
  return { metrics, rows, total: predictions.total };
}

export function readEvalResults(outputDir: string): EvalResults | null {
  const dir = join(outputDir, EVAL_RESULTS_DIR);
  const logPath = join(dir, 'results.log');
  if (!existsSync(logPath)) return null;
  const scores: Array<[string, number]> = [];
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    const m = /^\s*(.+?):\s*([\d.]+)\s*$/.exec(line);
    if (m) scores.push([m[1]!, Number(m[2])]);
  }
  const detailPath = join(dir, 'results_detail.json');
  const detail = existsSync(detailPath)
    ? (JSON.parse(readFileSync(detailPath, 'utf8')) as Record<string, Array<{ correct: boolean }>>)
    : {};
  const subjects = Object.entries(detail).map(([subject, questions]) => {
    const correct = questions.filter((q) => q.correct).length;
    return {
      subject,
      questions: questions.length,
      correct,
      accuracy: questions.length ? (100 * correct) / questions.length : 0,
    };
  });
  return { scores, subjects };
}
