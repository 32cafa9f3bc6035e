/** LLaMA-Factory's FinetuningArguments (stage, method, freeze, LoRA, RLHF, optimizer variants): names, defaults, help. */
import { type ArgValues, bool, choice, float, int, list, optFloat, optInt, optList, optStr, str } from './spec.js';

/** Refused: training without it would give other weights or use other memory than asked. */
const NOT_IMPLEMENTED = (what: string, name: string) => ({
  refuse: { why: `${what} is not implemented on this engine; remove ${name} to train without it` },
});
const MULTIMODAL = 'only text models are supported; there is no vision tower or projector to freeze';

/** What do_predict can score (lmforge's `metrics` argument; src/eval/prediction-scorer.ts computes them). */
export const PREDICT_METRICS = [
  'bleu',
  'rouge',
  'accuracy',
  'exact_match',
  'f1',
  'precision',
  'recall',
  'sql_execution',
] as const;
export type PredictMetric = (typeof PREDICT_METRICS)[number];

export const FINETUNING_ARGS = {
  stage: choice(
    ['pt', 'sft', 'rm', 'ppo', 'dpo', 'kto', 'orpo'] as const,
    'sft',
    'Which stage will be performed in training.',
  ),
  finetuning_type: choice(['lora', 'freeze', 'full'] as const, 'lora', 'Which fine-tuning method to use.'),
  pure_bf16: bool(false, 'Whether or not to train model in purely bf16 precision (without AMP).', {
    note: 'runs as bf16 mixed precision: the engine keeps trainable weights and optimizer state in f32',
  }),
  use_llama_pro: bool(false, 'Whether or not to make only the parameters in the expanded blocks trainable.'),
  use_adam_mini: bool(
    false,
    'Whether or not to use the Adam-mini optimizer.',
    NOT_IMPLEMENTED('Adam-mini', 'use_adam_mini'),
  ),
  use_muon: bool(false, 'Whether or not to use the Muon optimizer.', NOT_IMPLEMENTED('Muon', 'use_muon')),
  use_dft_loss: bool(false, 'Whether to use the DFT loss.', NOT_IMPLEMENTED('the DFT loss', 'use_dft_loss')),
  freeze_vision_tower: bool(true, 'Whether ot not to freeze the vision tower in MLLM training.', { note: MULTIMODAL }),
  freeze_multi_modal_projector: bool(true, 'Whether or not to freeze the multi modal projector in MLLM training.', {
    note: MULTIMODAL,
  }),
  freeze_language_model: bool(false, 'Whether or not to freeze the language model in MLLM training.', {
    note: MULTIMODAL,
  }),
  compute_accuracy: bool(
    false,
    'Whether or not to compute the token-level accuracy at evaluation.',
    NOT_IMPLEMENTED('eval_accuracy (token-level accuracy)', 'compute_accuracy'),
  ),
  // lmforge extensions: LLaMA-Factory users edit its metric.py to score predictions differently.
  metrics: list(
    ['bleu', 'rouge'],
    `lmforge extension: the metrics do_predict writes to predict_results.json (${PREDICT_METRICS.join(', ')}).`,
  ),
  custom_metric: optStr(
    'lmforge extension: an .mjs file whose default export (predictions, references, records) => {name: number} ' +
      'adds predict_<name> metrics.',
  ),
  metric_labels: optList(
    'lmforge extension: the label set of accuracy/precision/recall/f1 (macro and micro averages over it); ' +
      'default: the gold labels seen.',
  ),
  sql_timeout: float(5, 'lmforge extension: seconds one query may run in the sql_execution metric.'),
  disable_shuffling: bool(false, 'Whether or not to disable the shuffling of the training set.'),
  early_stopping_steps: optInt(
    'Number of steps to stop training if the `metric_for_best_model` does not improve.',
    NOT_IMPLEMENTED('early stopping', 'early_stopping_steps'),
  ),
  plot_loss: bool(false, 'Whether or not to save the training loss curves.'),
  include_effective_tokens_per_second: bool(false, 'Whether or not to compute effective tokens per second.', {
    note: 'effective_tokens_per_second is not computed; train_samples_per_second is',
  }),
  // FreezeArguments
  freeze_trainable_layers: int(
    2,
    'The number of trainable layers for freeze (partial-parameter) fine-tuning. Positive numbers mean the last n ' +
      'layers are set as trainable, negative numbers mean the first n layers are set as trainable.',
  ),
  freeze_trainable_modules: list(
    ['all'],
    'Name(s) of trainable modules for freeze (partial-parameter) fine-tuning. Use commas to separate multiple ' +
      'modules. Use `all` to specify all the available modules.',
  ),
  freeze_extra_modules: optList(
    'Name(s) of modules apart from hidden layers to be set as trainable for freeze (partial-parameter) fine-tuning. ' +
      'Use commas to separate multiple modules.',
  ),
  // LoraArguments
  additional_target: optList(
    'Name(s) of modules apart from LoRA layers to be set as trainable and saved in the final checkpoint. Use commas ' +
      'to separate multiple modules.',
  ),
  lora_alpha: optInt('The scale factor for LoRA fine-tuning (default: lora_rank * 2).'),
  lora_dropout: float(0, 'Dropout rate for the LoRA fine-tuning.'),
  lora_rank: int(8, 'The intrinsic dimension for LoRA fine-tuning.'),
  lora_target: list(
    ['all'],
    'Name(s) of target modules to apply LoRA. Use commas to separate multiple modules. Use `all` to specify all the ' +
      'linear modules.',
  ),
  loraplus_lr_ratio: optFloat('LoRA plus learning rate ratio (lr_B / lr_A).'),
  loraplus_lr_embedding: float(1e-6, 'LoRA plus learning rate for lora embedding layers.'),
  use_rslora: bool(false, 'Whether or not to use the rank stabilization scaling factor for LoRA layer.'),
  use_dora: bool(false, 'Whether or not to use the weight-decomposed lora method (DoRA).'),
  pissa_init: bool(false, 'Whether or not to initialize a PiSSA adapter.'),
  pissa_iter: int(16, 'The number of iteration steps performed by FSVD in PiSSA. Use -1 to disable it.'),
  pissa_convert: bool(false, 'Whether or not to convert the PiSSA adapter to a normal LoRA adapter.'),
  create_new_adapter: bool(false, 'Whether or not to create a new adapter with randomly initialized weight.'),
  // RLHFArguments
  pref_beta: float(0.1, 'The beta parameter in the preference loss.'),
  pref_ftx: float(0, 'The supervised fine-tuning loss coefficient in DPO training.'),
  pref_bco_weight: float(0, 'The Binary Classifier Optimization coefficient in DPO training.'),
  pref_loss: choice(
    ['sigmoid', 'hinge', 'ipo', 'kto_pair', 'orpo', 'simpo'] as const,
    'sigmoid',
    'The type of DPO loss to use.',
  ),
  dpo_label_smoothing: float(0, 'The robust DPO label smoothing parameter in cDPO that should be between 0 and 0.5.'),
  kto_chosen_weight: float(1, 'The weight factor of the desirable losses in KTO training.'),
  kto_rejected_weight: float(1, 'The weight factor of the undesirable losses in KTO training.'),
  simpo_gamma: float(0.5, 'The target reward margin term in SimPO loss.'),
  ppo_buffer_size: int(1, 'The number of mini-batches to make experience buffer in a PPO optimization step.'),
  ppo_epochs: int(4, 'The number of epochs to perform in a PPO optimization step.'),
  ppo_score_norm: bool(false, 'Use score normalization in PPO training.'),
  ppo_target: float(6, 'Target KL value for adaptive KL control in PPO training.'),
  ppo_whiten_rewards: bool(false, 'Whiten the rewards before compute advantages in PPO training.'),
  ref_model: optStr('Path to the reference model used for the PPO or DPO training.'),
  ref_model_adapters: optStr('Path to the adapters of the reference model.'),
  ref_model_quantization_bit: optInt(
    'The number of bits to quantize the reference model.',
    NOT_IMPLEMENTED('quantization', 'ref_model_quantization_bit'),
  ),
  reward_model: optStr('Path to the reward model used for the PPO training.'),
  reward_model_adapters: optStr('Path to the adapters of the reward model.'),
  reward_model_quantization_bit: optInt(
    'The number of bits to quantize the reward model.',
    NOT_IMPLEMENTED('quantization', 'reward_model_quantization_bit'),
  ),
  reward_model_type: choice(
    ['lora', 'full', 'api'] as const,
    'lora',
    'The type of the reward model in PPO training. Lora model only supports lora training.',
  ),
  ld_alpha: optFloat(
    'Alpha parameter from the LD-DPO paper, which controls the weighting of the verbose token log-probabilities in ' +
      'responses.',
  ),
  // GaloreArguments (src/train/galore.ts), ApolloArguments (not implemented), BAdamArgument.
  use_galore: bool(false, 'Whether or not to use the gradient low-Rank projection (GaLore).'),
  galore_target: list(['all'], 'Name(s) of modules to apply GaLore. Use commas to separate multiple modules.'),
  galore_rank: int(16, 'The rank of GaLore gradients.'),
  galore_update_interval: int(200, 'Number of steps to update the GaLore projection.'),
  galore_scale: float(2, 'GaLore scaling coefficient.'),
  galore_proj_type: choice(
    ['std', 'reverse_std', 'right', 'left', 'full'] as const,
    'std',
    'Type of GaLore projection.',
    {
      refuse: { why: 'only the std projection (right for tall, left for wide weights) is implemented; use std' },
    },
  ),
  galore_layerwise: bool(false, 'Whether or not to enable layer-wise update to further save memory.', {
    refuse: {
      why: 'layer-wise GaLore (an optimizer per parameter, stepped in backward hooks) is not implemented; remove it to step every GaLore weight at the end of the step',
    },
  }),
  use_apollo: bool(false, 'Whether or not to use the APOLLO optimizer.', NOT_IMPLEMENTED('APOLLO', 'use_apollo')),
  apollo_target: list(['all'], 'Name(s) of modules to apply APOLLO. Use commas to separate multiple modules.'),
  apollo_rank: int(16, 'The rank of APOLLO gradients.'),
  apollo_update_interval: int(200, 'Number of steps to update the APOLLO projection.'),
  apollo_scale: float(32, 'APOLLO scaling coefficient.'),
  apollo_proj: choice(
    ['svd', 'random'] as const,
    'random',
    'Type of APOLLO low-rank projection algorithm (svd or random).',
  ),
  apollo_proj_type: choice(['std', 'right', 'left'] as const, 'std', 'Type of APOLLO projection.'),
  apollo_scale_type: choice(['channel', 'tensor'] as const, 'channel', 'Type of APOLLO scaling (channel or tensor).'),
  apollo_layerwise: bool(false, 'Whether or not to enable layer-wise update to further save memory.'),
  apollo_scale_front: bool(false, 'Whether or not to use the norm-growth limiter in front of gradient scaling.'),
  use_badam: bool(false, 'Whether or not to use the BAdam optimizer.'),
  badam_mode: choice(['layer', 'ratio'] as const, 'layer', 'Whether to use layer-wise or ratio-wise BAdam optimizer.', {
    refuse: { why: 'ratio-wise BAdam (sparse masks over every matrix) is not implemented; use badam_mode: layer' },
  }),
  badam_start_block: optInt('The starting block index for layer-wise BAdam.'),
  badam_switch_mode: choice(
    ['ascending', 'descending', 'random', 'fixed'] as const,
    'ascending',
    'the strategy of picking block to update for layer-wise BAdam.',
  ),
  badam_switch_interval: int(
    50,
    'Number of steps to update the block for layer-wise BAdam. Use -1 to disable the block update.',
  ),
  badam_update_ratio: float(0.05, 'The ratio of the update for ratio-wise BAdam.'),
  badam_mask_mode: choice(['adjacent', 'scatter'] as const, 'adjacent', 'The mode of the mask for BAdam optimizer.'),
  badam_verbose: int(0, 'The verbosity level of BAdam optimizer.'),
  // SwanLabArguments
  use_swanlab: bool(false, 'Whether or not to use the SwanLab (an experiment tracking and visualization tool).'),
  swanlab_project: str('llamafactory', 'The project name in SwanLab.'),
  swanlab_workspace: optStr('The workspace name in SwanLab.'),
  swanlab_run_name: optStr('The experiment name in SwanLab.'),
  swanlab_api_key: optStr('The API key for SwanLab.'),
  swanlab_logdir: optStr('The log directory for SwanLab.'),
  swanlab_mode: choice(['cloud', 'local'] as const, 'cloud', 'The mode of SwanLab.'),
};

export type FinetuningArgs = ArgValues<typeof FINETUNING_ARGS>;
