/** Evaluation: generation metrics (BLEU/ROUGE as LLaMA-Factory) and multiple-choice benchmarks (MMLU, C-Eval, CMMLU). */
export * from './benchmark-data.js';
export { brevityPenalty, modifiedPrecision, sentenceBleu } from './bleu.js';
export * from './eval-template.js';
export * from './evaluator.js';
export * from './metrics.js';
export { fsum, numpyMean, numpySum, pythonRound } from './python-math.js';
export { cutSentences, lcsLength, pythonSplit, type RougeScore, type RougeScores, rougeScores } from './rouge.js';
