/** The subset of Hugging Face Seq2SeqTrainingArguments that LLaMA-Factory configs use: names, defaults, help. */
import {
  type ArgValues,
  bool,
  choice,
  dict,
  float,
  int,
  list,
  optBool,
  optDict,
  optFloat,
  optInt,
  optList,
  optStr,
  str,
} from './spec.js';

export const LR_SCHEDULER_TYPES = [
  'linear',
  'cosine',
  'cosine_with_restarts',
  'polynomial',
  'constant',
  'constant_with_warmup',
  'inverse_sqrt',
  'reduce_lr_on_plateau',
  'cosine_with_min_lr',
  'cosine_warmup_with_min_lr',
  'warmup_stable_decay',
] as const;
export type LrSchedulerType = (typeof LR_SCHEDULER_TYPES)[number];

const SINGLE_PROCESS = 'one process drives all cores here; distributed settings do not apply';
const STRATEGIES = ['no', 'steps', 'epoch'] as const;
/** Refused: running without it would give other weights, other metrics or other memory than asked. */
const NOT_HERE = (what: string, name: string) => ({
  refuse: { why: `${what} is not implemented on this engine; remove ${name} to run without it` },
});
const LOG_ONLY = 'a logging detail this trainer does not have; the trained weights are the same';

export const TRAINING_ARGS = {
  output_dir: str(
    'trainer_output',
    'The output directory where the model predictions and checkpoints will be written.',
  ),
  overwrite_output_dir: bool(
    false,
    'Overwrite the content of the output directory. Use this to continue training if output_dir points to a ' +
      'checkpoint directory.',
  ),
  do_train: bool(false, 'Whether to run training.'),
  do_eval: bool(false, 'Whether to run eval on the dev set.'),
  do_predict: bool(false, 'Whether to run predictions on the test set.'),
  eval_strategy: choice(STRATEGIES, 'no', 'The evaluation strategy to use.'),
  prediction_loss_only: bool(false, 'When performing evaluation and predictions, only returns the loss.', {
    note: 'evaluation reports the loss (and generation metrics only with predict_with_generate)',
  }),
  per_device_train_batch_size: int(8, 'Batch size per device accelerator core/CPU for training.'),
  per_device_eval_batch_size: int(8, 'Batch size per device accelerator core/CPU for evaluation.'),
  gradient_accumulation_steps: int(
    1,
    'Number of updates steps to accumulate before performing a backward/update pass.',
  ),
  eval_accumulation_steps: optInt('Number of predictions steps to accumulate before moving the tensors to the CPU.', {
    note: 'do_predict writes its predictions to disk every this many batches (every batch when unset)',
  }),
  eval_delay: float(
    0,
    'Number of epochs or steps to wait for before the first evaluation can be performed, depending on the ' +
      'eval_strategy.',
    NOT_HERE('delaying the first evaluation', 'eval_delay'),
  ),
  learning_rate: float(5e-5, 'The initial learning rate for AdamW.'),
  weight_decay: float(0, 'Weight decay for AdamW if we apply some.'),
  adam_beta1: float(0.9, 'Beta1 for AdamW optimizer'),
  adam_beta2: float(0.999, 'Beta2 for AdamW optimizer'),
  adam_epsilon: float(1e-8, 'Epsilon for AdamW optimizer.'),
  max_grad_norm: float(1, 'Max gradient norm.'),
  num_train_epochs: float(3, 'Total number of training epochs to perform.'),
  max_steps: int(-1, 'If > 0: set total number of training steps to perform. Override num_train_epochs.'),
  lr_scheduler_type: choice(LR_SCHEDULER_TYPES, 'linear', 'The scheduler type to use.'),
  lr_scheduler_kwargs: dict(
    "Extra parameters for the lr_scheduler such as {'num_cycles': 1} for the cosine with hard restarts.",
  ),
  warmup_ratio: float(0, 'Linear warmup over warmup_ratio fraction of total steps.'),
  warmup_steps: int(0, 'Linear warmup over warmup_steps.'),
  log_level: choice(
    ['passive', 'debug', 'info', 'warning', 'error', 'critical'] as const,
    'passive',
    'Logger log level to use on the main node.',
    { note: LOG_ONLY },
  ),
  logging_dir: optStr('Tensorboard log dir.'),
  logging_strategy: choice(STRATEGIES, 'steps', 'The logging strategy to use.'),
  logging_first_step: bool(false, 'Log the first global_step', { note: LOG_ONLY }),
  logging_steps: float(
    500,
    'Log every X updates steps. Should be an integer or a float in range `[0,1)`. If smaller than 1, will be ' +
      'interpreted as ratio of total training steps.',
  ),
  logging_nan_inf_filter: bool(true, 'Filter nan and inf losses for logging.', { note: LOG_ONLY }),
  save_strategy: choice(['no', 'steps', 'epoch', 'best'] as const, 'steps', 'The checkpoint save strategy to use.', {
    refuse: {
      why: 'saving the best checkpoint is not implemented: use save_strategy steps or epoch',
      when: (v) => v === 'best',
    },
  }),
  save_steps: float(
    500,
    'Save checkpoint every X updates steps. Should be an integer or a float in range `[0,1)`. If smaller than 1, ' +
      'will be interpreted as ratio of total training steps.',
  ),
  save_total_limit: optInt(
    'If a value is passed, will limit the total amount of checkpoints. Deletes the older checkpoints in output_dir.',
  ),
  save_safetensors: bool(true, 'Use safetensors saving and loading for state dicts instead of default torch.load.', {
    note: 'weights are always saved as safetensors',
  }),
  save_only_model: bool(
    false,
    'When checkpointing, whether to only save the model, or also the optimizer, scheduler & rng state.',
    { note: 'checkpoints always hold the optimizer, scheduler and rng state so that they resume' },
  ),
  use_cpu: bool(false, 'Whether or not to use cpu.', { note: 'the engine always runs on the CPU' }),
  seed: int(42, 'Random seed that will be set at the beginning of training.'),
  data_seed: optInt(
    'Random seed to be used with data samplers.',
    NOT_HERE('a separate data-order seed (the order follows seed)', 'data_seed'),
  ),
  // bf16 is mixed precision here as in HF: frozen weights stored bf16, GEMMs on bf16-rounded operands with f32
  // sums (AVX512_BF16 where the CPU has it), trainable weights, norms, softmax and the loss in f32.
  bf16: bool(false, 'Whether to use bf16 (mixed) precision instead of 32-bit.'),
  fp16: bool(false, 'Whether to use fp16 (mixed) precision instead of 32-bit', {
    note: 'the CPU engine accumulates in f32; fp16 only sets the storage dtype of frozen weights',
  }),
  tf32: optBool('Whether to enable tf32 mode, available in Ampere and newer GPU architectures.', {
    note: 'TF32 is an NVIDIA format',
  }),
  // Under mpirun (or --nproc_per_node) every collective waits at most this long; then the job ends naming the rank.
  ddp_timeout: int(1800, 'Overrides the default timeout for distributed training (value should be given in seconds).', {
    note: 'bounds each collective of a data-parallel run (mpirun / --nproc_per_node); one process waits for no peer',
  }),
  // DDP's bucket size for the gradient allreduce (the first bucket holds at most 1 MiB, as in torch).
  ddp_bucket_cap_mb: optInt(
    'When using distributed training, the value of the flag `bucket_cap_mb` passed to `DistributedDataParallel`.',
  ),
  ddp_find_unused_parameters: optBool(
    'When using distributed training, the value of the flag `find_unused_parameters`.',
    {
      note: SINGLE_PROCESS,
    },
  ),
  ddp_backend: optStr('The backend to be used for distributed training', { note: SINGLE_PROCESS }),
  local_rank: int(-1, 'For distributed training: local_rank', { note: SINGLE_PROCESS }),
  save_on_each_node: bool(
    false,
    'When doing multi-node distributed training, whether to save models and checkpoints on each node, or only on the main one',
    {
      note: SINGLE_PROCESS,
    },
  ),
  average_tokens_across_devices: bool(true, 'Whether or not to average tokens across devices.', {
    note: SINGLE_PROCESS,
  }),
  dataloader_persistent_workers: bool(
    false,
    'If True, the data loader will not shut down the worker processes after a dataset has been consumed once.',
    {
      note: 'batches are built in this process',
    },
  ),
  dataloader_prefetch_factor: optInt('Number of batches loaded in advance by each worker.', {
    note: 'batches are built in this process',
  }),
  dataloader_num_workers: int(0, 'Number of subprocesses to use for data loading (PyTorch only).', {
    note: 'batches are built in this process',
  }),
  dataloader_drop_last: bool(
    false,
    'Drop the last incomplete batch if it is not divisible by the batch size.',
    NOT_HERE('dropping the last incomplete batch', 'dataloader_drop_last'),
  ),
  dataloader_pin_memory: bool(true, 'Whether or not to pin memory for DataLoader.', { note: 'there is no GPU' }),
  eval_steps: optFloat(
    'Run an evaluation every X steps. Should be an integer or a float in range `[0,1)`. If smaller than 1, will be ' +
      'interpreted as ratio of total training steps.',
  ),
  eval_on_start: bool(
    false,
    'Whether to run through the entire `evaluation` step at the very beginning of training.',
    NOT_HERE('an evaluation before the first step', 'eval_on_start'),
  ),
  run_name: optStr('An optional descriptor for the run.'),
  disable_tqdm: optBool('Whether or not to disable the tqdm progress bars.', {
    note: 'the progress line shows on a terminal only',
  }),
  remove_unused_columns: bool(true, 'Remove columns not required by the model when using an nlp.Dataset.', {
    note: 'LLaMA-Factory forces it off; datasets keep their columns',
  }),
  label_names: optList('The list of keys in your dictionary of inputs that correspond to the labels.', {
    note: 'each stage knows its own label columns',
  }),
  load_best_model_at_end: bool(
    false,
    'Whether or not to load the best model found during training at the end of training.',
    NOT_HERE('keeping the best checkpoint as the final model (the last step is saved)', 'load_best_model_at_end'),
  ),
  metric_for_best_model: optStr('The metric to use to compare two different models.'),
  greater_is_better: optBool('Whether the `metric_for_best_model` should be maximized or not.'),
  ignore_data_skip: bool(
    false,
    'When resuming training, whether or not to skip the first epochs and batches to get to the same training data.',
    NOT_HERE('resuming without skipping the seen batches', 'ignore_data_skip'),
  ),
  fsdp: str('', 'Whether or not to use PyTorch Fully Sharded Data Parallel (FSDP) training.', { note: SINGLE_PROCESS }),
  fsdp_config: optDict('Config to be used with FSDP.', { note: SINGLE_PROCESS }),
  deepspeed: optStr('Enable deepspeed and pass the path to deepspeed json config file or an already loaded json.', {
    note: "DeepSpeed's ZeRO sharding does not apply to one process; under mpirun stage 0 is DDP and stage 1 shards the optimizer state (ZeRO-1)",
  }),
  label_smoothing_factor: float(
    0,
    'The label smoothing epsilon to apply (zero means no label smoothing).',
    NOT_HERE('label smoothing', 'label_smoothing_factor'),
  ),
  optim: str('adamw_torch', 'The optimizer to use (adamw_torch or sgd on this engine).'),
  threads: optInt("Threads of lmforge's native engine (default: the machine's physical cores, or LMFORGE_THREADS)."),
  optim_args: optStr('Optional arguments to supply to optimizer.', {
    refuse: { why: 'optim_args are not passed on: set adam_beta1, adam_beta2, adam_epsilon and weight_decay instead' },
  }),
  group_by_length: bool(
    false,
    'Whether or not to group samples of roughly the same length together when batching.',
    NOT_HERE('length-grouped batching', 'group_by_length'),
  ),
  report_to: list(['none'], 'The list of integrations to report the results and logs to.'),
  resume_from_checkpoint: optStr('The path to a folder with a valid checkpoint for your model.'),
  gradient_checkpointing: bool(
    false,
    'If True, use gradient checkpointing to save memory at the expense of slower backward pass.',
    { note: 'LLaMA-Factory sets it from disable_gradient_checkpointing, as lmforge does' },
  ),
  include_num_input_tokens_seen: bool(
    false,
    'Whether or not to track the number of input tokens seen throughout training.',
    { note: 'num_input_tokens_seen is not logged' },
  ),
  neftune_noise_alpha: optFloat('Activates neftune noise embeddings into the model.'),
  auto_find_batch_size: bool(false, 'Whether to automatically decrease the batch size on out-of-memory errors.', {
    note: 'the batch size is used as given',
  }),
  full_determinism: bool(false, 'Whether to call enable_full_determinism instead of set_seed for reproducibility.', {
    note: 'runs are already deterministic for a given seed, thread count and instruction set',
  }),
  torch_compile: bool(false, 'If set to `True`, the model will be wrapped in `torch.compile`.', {
    note: 'there is no PyTorch to compile',
  }),
  push_to_hub: bool(false, 'Whether or not to upload the trained model to the model hub after training.', {
    note: 'uploading is not implemented; push the output_dir with huggingface-cli',
  }),
  hub_model_id: optStr('The name of the repository to keep in sync with the local `output_dir`.', {
    note: 'uploading is not implemented; push the output_dir with huggingface-cli',
  }),
  use_liger_kernel: bool(false, 'Whether or not to enable the Liger Kernel for model training.', {
    note: 'Liger kernels are Triton (GPU) kernels',
  }),
  // LLaMA-Factory's RayArguments
  ray_run_name: optStr('The training results will be saved at `<ray_storage_path>/ray_run_name`.', {
    note: SINGLE_PROCESS,
  }),
  ray_storage_path: str('./saves', 'The storage path to save training results to', { note: SINGLE_PROCESS }),
  ray_num_workers: int(1, 'The number of workers for Ray training. Default is 1 worker.', { note: SINGLE_PROCESS }),
  resources_per_worker: optDict('The resources per worker for Ray training. Default is to use 1 GPU per worker.', {
    note: SINGLE_PROCESS,
  }),
  placement_strategy: choice(
    ['SPREAD', 'PACK', 'STRICT_SPREAD', 'STRICT_PACK'] as const,
    'PACK',
    'The placement strategy for Ray training. Default is PACK.',
    {
      note: SINGLE_PROCESS,
    },
  ),
  ray_init_kwargs: optDict('The arguments to pass to ray.init for Ray training. Default is None.', {
    note: SINGLE_PROCESS,
  }),
  // Seq2SeqTrainingArguments
  sortish_sampler: bool(
    false,
    'Whether to use SortishSampler or not.',
    NOT_HERE('the sortish sampler', 'sortish_sampler'),
  ),
  predict_with_generate: bool(false, 'Whether to use generate to calculate generative metrics (ROUGE, BLEU).'),
  generation_max_length: optInt(
    'The `max_length` to use on each evaluation loop when `predict_with_generate=True`. Will default to the ' +
      '`max_length` value of the model configuration.',
  ),
  generation_num_beams: optInt(
    'The `num_beams` to use on each evaluation loop when `predict_with_generate=True`. Will default to the ' +
      '`num_beams` value of the model configuration.',
    { refuse: { why: 'beam search is not implemented: use 1 (or remove it)', when: (v) => v !== null && v !== 1 } },
  ),
  generation_config: optStr(
    'Model id, file path or url pointing to a GenerationConfig json file, to use during prediction.',
  ),
};

export type TrainingArgs = ArgValues<typeof TRAINING_ARGS>;

/** HF's OptimizerNames that the CPU engine runs (all as f32 AdamW; 8-bit/fused/paged variants are storage tricks). */
export const ADAMW_OPTIMIZERS = [
  'adamw_torch',
  'adamw_torch_fused',
  'adamw_hf',
  'adamw_apex_fused',
  'adamw_bnb_8bit',
  'adamw_8bit',
  'paged_adamw_8bit',
  'paged_adamw_32bit',
  'adamw_torch_xla',
  'adamw_torch_npu_fused',
] as const;
