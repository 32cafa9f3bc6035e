/** LLaMA-Factory's DataArguments: names, defaults, help. */
import {
  type ArgValues,
  bool,
  choice,
  float,
  int,
  optBool,
  optFloatList,
  optInt,
  optList,
  optStr,
  str,
} from './spec.js';

export const DATA_ARGS = {
  template: optStr('Which template to use for constructing prompts in training and inference.'),
  dataset: optList('The name of dataset(s) to use for training. Use commas to separate multiple datasets.'),
  eval_dataset: optList('The name of dataset(s) to use for evaluation. Use commas to separate multiple datasets.'),
  dataset_dir: str('data', 'Path to the folder containing the datasets.'),
  media_dir: optStr('Path to the folder containing the images, videos or audios. Defaults to `dataset_dir`.'),
  cutoff_len: int(2048, 'The cutoff length of the tokenized inputs in the dataset.'),
  train_on_prompt: bool(false, 'Whether or not to disable the mask on the prompt.'),
  mask_history: bool(false, 'Whether or not to mask the history and train on the last turn only.'),
  streaming: bool(false, 'Enable dataset streaming.'),
  buffer_size: int(16384, 'Size of the buffer to randomly sample examples from in dataset streaming.', {
    note: 'streaming is not supported, so there is no shuffle buffer',
  }),
  mix_strategy: choice(
    ['concat', 'interleave_under', 'interleave_over'] as const,
    'concat',
    'Strategy to use in dataset mixing (concat/interleave) (undersampling/oversampling).',
  ),
  interleave_probs: optFloatList(
    'Probabilities to sample data from datasets. Use commas to separate multiple datasets.',
  ),
  overwrite_cache: bool(false, 'Overwrite the cached training and evaluation sets.'),
  preprocessing_batch_size: int(1000, 'The number of examples in one group in pre-processing.'),
  preprocessing_num_workers: optInt('The number of processes to use for the pre-processing.', {
    note: 'preprocessing runs in this process; the engine threads do the heavy work',
  }),
  max_samples: optInt('For debugging purposes, truncate the number of examples for each dataset.'),
  eval_num_beams: optInt('Number of beams to use for evaluation. This argument will be passed to `model.generate`', {
    refuse: { why: 'beam search is not implemented: use 1 (or remove it)', when: (v) => v !== null && v !== 1 },
  }),
  ignore_pad_token_for_loss: bool(
    true,
    'Whether or not to ignore the tokens corresponding to the pad label in loss computation.',
  ),
  val_size: float(0, 'Size of the validation set, should be an integer or a float in range `[0,1)`.'),
  eval_on_each_dataset: bool(false, 'Whether or not to evaluate on each dataset separately.', {
    refuse: {
      why: 'per-dataset evaluation is not implemented (the eval sets are merged); remove eval_on_each_dataset',
    },
  }),
  packing: optBool('Enable sequences packing in training. Will automatically enable in pre-training.'),
  neat_packing: bool(false, 'Enable sequence packing without cross-attention.'),
  tool_format: optStr('Tool format to use for constructing function calling examples.'),
  default_system: optStr('Override the default system message in the template.'),
  enable_thinking: bool(true, 'Whether or not to enable thinking mode for reasoning models.'),
  tokenized_path: optStr(
    'Path to save or load the tokenized datasets. If tokenized_path not exists, it will save the tokenized datasets. ' +
      'If tokenized_path exists, it will load the tokenized datasets.',
  ),
};

export type DataArgs = ArgValues<typeof DATA_ARGS>;
