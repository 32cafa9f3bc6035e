/** LLaMA-Factory's EvaluationArguments (`lmforge eval`: MMLU/C-Eval/CMMLU-style benchmarks). */
import { type ArgValues, choice, int, optChoice, optStr, str } from './spec.js';

export const EVALUATION_ARGS = {
  task: optStr('Name of the evaluation task.'),
  // Not a LLaMA-Factory field: its task names the split (mmlu_test, ceval_validation); --split is read the same way.
  split: optChoice(
    ['test', 'validation', 'train'] as const,
    'The split to score, as in --task mmlu --split validation (the same as --task mmlu_validation).',
  ),
  task_dir: str('evaluation', 'Path to the folder containing the evaluation datasets.'),
  batch_size: int(4, 'The batch size per GPU for evaluation.'),
  seed: int(42, 'Random seed to be used with data loaders.'),
  lang: choice(['en', 'zh'] as const, 'en', 'Language used at evaluation.'),
  n_shot: int(5, 'Number of examplars for few-shot learning.'),
  save_dir: optStr('Path to save the evaluation results.'),
  download_mode: choice(
    ['reuse_dataset_if_exists', 'reuse_cache_if_exists', 'force_redownload'] as const,
    'reuse_dataset_if_exists',
    'Download mode used for the evaluation datasets.',
    { note: 'benchmarks are read from task_dir; nothing is downloaded' },
  ),
};

export type EvaluationArgs = ArgValues<typeof EVALUATION_ARGS>;
