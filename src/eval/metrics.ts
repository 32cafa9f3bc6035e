/**
 * LLaMA-Factory's `ComputeSimilarity` (sft predict_with_generate) and its prediction files. Per (pred, label):
 * jieba words (HMM on, as `jieba.cut`) joined by spaces -> ROUGE-1/2/L F (0 when either side has no words), BLEU-4
 * on characters with NLTK's method3 smoothing; each x100 and rounded to 4 decimals, then averaged as np.mean does.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Jieba } from '@node-rs/jieba';
import { dict } from '@node-rs/jieba/dict.js';
import { pyFloat, pythonJsonDumps, pythonJsonText } from '../util/python-json.js';
import { sentenceBleu } from './bleu.js';
import { numpyMean, pythonRound } from './python-math.js';
import { pythonSplit, rougeScores } from './rouge.js';

export interface SimilarityMetrics {
  'predict_bleu-4': number;
  'predict_rouge-1': number;
  'predict_rouge-2': number;
  'predict_rouge-l': number;
}

/** Per-sample scores, each already x100 and rounded to 4 decimals. */
export interface SampleSimilarity {
  'bleu-4': number;
  'rouge-1': number;
  'rouge-2': number;
  'rouge-l': number;
}

let jieba: Jieba | undefined;

/** `list(jieba.cut(text))` with jieba's default dictionary. */
export function jiebaCut(text: string): string[] {
  jieba ??= Jieba.withDict(dict);
  return jieba.cut(text, true);
}

export function sampleSimilarity(
  pred: string,
  label: string,
  cut: (text: string) => string[] = jiebaCut,
): SampleSimilarity {
  const hypothesis = cut(pred);
  const reference = cut(label);
  const hyp = hypothesis.join(' ');
  const ref = reference.join(' ');
  let rouge = { 'rouge-1': 0, 'rouge-2': 0, 'rouge-l': 0 };
  if (pythonSplit(hyp).length > 0 && pythonSplit(ref).length > 0) {
    const s = rougeScores(hyp, ref);
    rouge = { 'rouge-1': s['rouge-1'].f, 'rouge-2': s['rouge-2'].f, 'rouge-l': s['rouge-l'].f };
  }
  const bleu = sentenceBleu(Array.from(label), Array.from(pred));
  return {
    'bleu-4': pythonRound(bleu * 100, 4),
    'rouge-1': pythonRound(rouge['rouge-1'] * 100, 4),
    'rouge-2': pythonRound(rouge['rouge-2'] * 100, 4),
    'rouge-l': pythonRound(rouge['rouge-l'] * 100, 4),
  };
}

export function computeSimilarity(
  preds: readonly string[],
  labels: readonly string[],
  cut: (text: string) => string[] = jiebaCut,
): SimilarityMetrics {
  if (preds.length !== labels.length) {
    throw new Error(
      `computeSimilarity: ${preds.length} predictions but ${labels.length} labels; pass one label per prediction.`,
    );
  }
  if (preds.length === 0) throw new Error('computeSimilarity: no predictions to score.');
  const samples = preds.map((p, i) => sampleSimilarity(p, labels[i]!, cut));
  const mean = (k: keyof SampleSimilarity) => numpyMean(samples.map((s) => s[k]));
  return {
    'predict_bleu-4': mean('bleu-4'),
    'predict_rouge-1': mean('rouge-1'),
    'predict_rouge-2': mean('rouge-2'),
    'predict_rouge-l': mean('rouge-l'),
  };
}

export interface PredictionRow {
  prompt: string;
  predict: string;
  label: string;
}

/**
 * Writes `generated_predictions.jsonl` (one `{"prompt", "predict", "label"}` per line, as Python's json.dumps with
 * ensure_ascii=False writes it) and `predict_results.json` (the metrics plus any extra numbers such as
 * predict_runtime, as the HF trainer's save_metrics writes them: indent 4, sorted keys, every value a float).
 */
export function writePredictions(
  dir: string,
  rows: readonly PredictionRow[],
  metrics: Readonly<Record<string, number>> = {},
): void {
  mkdirSync(dir, { recursive: true });
  const lines = rows.map((r) => `${pythonJsonText({ prompt: r.prompt, predict: r.predict, label: r.label })}\n`);
  writeFileSync(join(dir, 'generated_predictions.jsonl'), lines.join(''), 'utf8');
  const asPython = Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, pyFloat(v)]));
  writeFileSync(join(dir, 'predict_results.json'), pythonJsonDumps(asPython, { indent: 4, sortKeys: true }), 'utf8');
}
