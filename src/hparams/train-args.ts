/**
 * `lmforge train`'s arguments: typed by the tables, completed and checked with the rules LLaMA-Factory's
 * get_train_args and the dataclasses' __post_init__ apply (those that mean something on a CPU engine).
 */
import type { DataArgs } from './data-args.js';
import { didYouMean } from './did-you-mean.js';
import { HparamsError } from './errors.js';
import { type FinetuningArgs, PREDICT_METRICS } from './finetuning-args.js';
import type { GeneratingArgs } from './generating-args.js';
import type { ComputeDtype, ModelArgs } from './model-args.js';
import { readArgs, TRAIN_GROUPS, typeArgs } from './parser.js';
import { ADAMW_OPTIMIZERS, type TrainingArgs } from './training-args.js';

export interface TrainArgs {
  model: ModelArgs;
  data: DataArgs;
  finetuning: FinetuningArgs;
  training: TrainingArgs;
  generating: GeneratingArgs;
  /** What the user wrote (typed), in the order given: training_args.yaml saves exactly these. */
  given: Record<string, unknown>;
  /** One line per argument accepted for compatibility but without effect here, and per derived default. */
  notes: string[];
  /** The config file, when one was given. */
  file?: string;
}

/** HF optimizer names this engine does not run; named so a user gets "not available" instead of "unknown". */
const OTHER_HF_OPTIMIZERS = [
  'adafactor',
  'adagrad',
  'rmsprop',
  'rmsprop_bnb',
  'lion_8bit',
  'lion_32bit',
  'paged_lion_8bit',
  'paged_lion_32bit',
  'adamw_anyprecision',
  'galore_adamw',
  'galore_adafactor',
  'apollo_adamw',
  'lomo',
  'adalomo',
  'grokadamw',
  'schedule_free_adamw',
  'schedule_free_sgd',
];

/** The trackers `report_to` can name here (src/train/trackers). */
export const SUPPORTED_TRACKERS = ['tensorboard', 'wandb', 'mlflow', 'swanlab'] as const;

/** HF integrations accepted by name without effect (their logs are in trainer_log.jsonl and trainer_state.json). */
const OTHER_HF_TRACKERS = [
  'azure_ml',
  'clearml',
  'codecarbon',
  'comet_ml',
  'dagshub',
  'dvclive',
  'flyte',
  'neptune',
  'ray',
  'trackio',
];

/** HF's report_to: `none` is none, `all` every integration installed (here: tensorboard, the one needing no account). */
function reportTo(given: readonly string[], notes: string[]): string[] {
  const out = new Set<string>();
  for (const name of given) {
    if (name === 'none') continue;
    if (name === 'all') out.add('tensorboard');
    else if ((SUPPORTED_TRACKERS as readonly string[]).includes(name)) out.add(name);
    else if (OTHER_HF_TRACKERS.includes(name)) {
      notes.push(`report_to: ${name} is not available here; logs go to trainer_log.jsonl`);
    } else {
      const guess = didYouMean(name, [...SUPPORTED_TRACKERS, ...OTHER_HF_TRACKERS, 'all', 'none']);
      throw new HparamsError([
        `report_to: unknown integration '${name}'${guess ? ` (did you mean '${guess}'?)` : ''}; use one of ${SUPPORTED_TRACKERS.join(', ')} or none.`,
      ]);
    }
  }
  return [...out];
}

/** Parses argv (`cfg.yaml key=value ...` or `--key value ...`) or an already-read mapping into checked arguments. */
export function parseTrainArgs(input: readonly string[] | Record<string, unknown>): TrainArgs {
  const raw = Array.isArray(input)
    ? readArgs(input as readonly string[])
    : { values: input as Record<string, unknown> };
  const typed = typeArgs(raw.values, TRAIN_GROUPS, { training: true, deferRefusals: true });
  const g = typed.groups;
  const args: TrainArgs = {
    model: g.model as ModelArgs,
    data: g.data as DataArgs,
    finetuning: g.finetuning as FinetuningArgs,
    training: g.training as TrainingArgs,
    generating: g.generating as GeneratingArgs,
    given: typed.given,
    notes: typed.notes,
    ...(raw.file === undefined ? {} : { file: raw.file }),
  };
  completeDefaults(args);
  const problems = [...typed.refused, ...checkTrainArgs(args)];
  if (problems.length > 0) throw new HparamsError(problems);
  return args;
}

/** The values LLaMA-Factory and HF derive after parsing (their __post_init__ and get_train_args' post-processing). */
function completeDefaults(args: TrainArgs): void {
  const { model, data, finetuning: ft, training: tr } = args;
  ft.lora_alpha ??= ft.lora_rank * 2;
  data.media_dir ??= data.dataset_dir;
  if (data.neat_packing) data.packing = true;
  data.packing ??= ft.stage === 'pt';
  if (tr.eval_strategy !== 'no') tr.do_eval = true;
  if (tr.eval_strategy === 'steps' && tr.eval_steps === null && tr.logging_steps > 0) tr.eval_steps = tr.logging_steps;
  if (tr.load_best_model_at_end || tr.save_strategy === 'best') {
    if (tr.load_best_model_at_end) tr.metric_for_best_model ??= 'loss';
  }
  if (tr.greater_is_better === null && tr.metric_for_best_model !== null) {
    tr.greater_is_better = !tr.metric_for_best_model.endsWith('loss');
  }
  tr.report_to = reportTo(tr.report_to, args.notes);
  tr.generation_max_length ??= data.cutoff_len;
  tr.generation_num_beams = data.eval_num_beams ?? tr.generation_num_beams;
  const computeDtype: ComputeDtype = tr.bf16 || ft.pure_bf16 ? 'bf16' : tr.fp16 ? 'f16' : 'f32';
  model.compute_dtype = computeDtype;
  model.model_max_length = data.cutoff_len;
  if (ft.stage !== 'pt' && data.template === null) {
    args.notes.push(
      "template: not set; the tokenizer's own chat_template is used when it has one, else the 'empty' template",
    );
  }
  if (tr.optim !== 'adamw_torch' && (ADAMW_OPTIMIZERS as readonly string[]).includes(tr.optim)) {
    args.notes.push(`optim: ${tr.optim} runs as f32 AdamW (adamw_torch) on the CPU engine`);
  }
}

/** Every rule broken, as a message that says what to change. */
export function checkTrainArgs(args: TrainArgs): string[] {
  const { model, data, finetuning: ft, training: tr } = args;
  const p: string[] = [];
  const isLora = ft.finetuning_type === 'lora';

  // ModelArguments.__post_init__ and _verify_model_args
  if (model.model_name_or_path === null) p.push('Please provide `model_name_or_path` (a local folder or a hub id).');
  if (model.split_special_tokens && model.use_fast_tokenizer) {
    p.push('`split_special_tokens` is only supported for slow tokenizers: set use_fast_tokenizer=false.');
  }
  if (model.adapter_name_or_path !== null && !isLora) {
    p.push('Adapter is only valid for the LoRA method: drop adapter_name_or_path or set finetuning_type=lora.');
  }
  if (model.quantization_bit !== null) {
    if (!isLora) p.push('Quantization is only compatible with the LoRA method: set finetuning_type=lora.');
    if (model.quantization_method !== 'bnb') {
      p.push(
        `quantization_method ${model.quantization_method} is not available: lmforge quantizes on the fly as bitsandbytes does (quantization_method: bnb).`,
      );
    } else if (![4, 8].includes(model.quantization_bit)) {
      p.push(`quantization_bit must be 4 or 8 for bitsandbytes, got ${model.quantization_bit}.`);
    }
    if (ft.pissa_init) p.push('Please use scripts/pissa_init.py to initialize PiSSA for a quantized model.');
    if (ft.use_dora) p.push('DoRA over a quantized base is not implemented here: drop use_dora or quantization_bit.');
    if (model.resize_vocab) p.push('Cannot resize embedding layers of a quantized model: drop resize_vocab.');
    if (model.adapter_name_or_path !== null) {
      if (ft.create_new_adapter) p.push('Cannot create new adapter upon a quantized model.');
      if (model.adapter_name_or_path.length !== 1) {
        p.push('Quantized model only accepts a single adapter. Merge them first (lmforge export).');
      }
    }
  }
  if (model.infer_backend !== 'huggingface') {
    p.push(`infer_backend=${model.infer_backend} is only for chat/api; training uses the built-in engine.`);
  }

  // DataArguments.__post_init__
  if (data.dataset === null && data.val_size > 1e-6) p.push('Cannot specify `val_size` if `dataset` is None.');
  if (data.eval_dataset !== null && data.val_size > 1e-6) {
    p.push('Cannot specify `val_size` if `eval_dataset` is not None: use one way to get an evaluation set.');
  }
  if (data.val_size < 0 || (data.val_size >= 1 && !Number.isInteger(data.val_size))) {
    p.push(`val_size must be a fraction in [0, 1) or a whole number of examples, got ${data.val_size}.`);
  }
  if (data.interleave_probs !== null) {
    if (data.mix_strategy === 'concat') {
      p.push('`interleave_probs` is only valid for interleaved mixing: set mix_strategy=interleave_under or _over.');
    }
    if (data.dataset !== null && data.dataset.length !== data.interleave_probs.length) {
      p.push('The length of dataset and interleave probs should be identical.');
    }
    if (data.eval_dataset !== null && data.eval_dataset.length !== data.interleave_probs.length) {
      p.push('The length of eval dataset and interleave probs should be identical.');
    }
  }
  if (data.streaming && data.val_size > 1e-6 && data.val_size < 1) {
    p.push('Streaming mode should have an integer val size.');
  }
  if (data.streaming && data.max_samples !== null) p.push('`max_samples` is incompatible with `streaming`.');
  if (data.mask_history && data.train_on_prompt) p.push('`mask_history` is incompatible with `train_on_prompt`.');
  if (data.cutoff_len < 1) p.push(`cutoff_len must be at least 1, got ${data.cutoff_len}.`);

  // FinetuningArguments.__post_init__
  for (const [name, bits] of [
    ['ref_model_quantization_bit', ft.ref_model_quantization_bit],
    ['reward_model_quantization_bit', ft.reward_model_quantization_bit],
  ] as const) {
    if (bits !== null && bits !== 4 && bits !== 8) p.push(`${name}: we only accept 4-bit or 8-bit quantization.`);
  }
  if (ft.stage === 'ppo' && ft.reward_model === null) p.push('`reward_model` is necessary for PPO training.');
  if (ft.stage === 'ppo' && ft.reward_model_type === 'lora' && !isLora) {
    p.push('`reward_model_type` cannot be lora for Freeze/Full PPO training.');
  }
  if (ft.stage === 'dpo' && ft.pref_loss !== 'sigmoid' && ft.dpo_label_smoothing > 1e-6) {
    p.push('`dpo_label_smoothing` is only valid for sigmoid loss function.');
  }
  if (ft.use_llama_pro && ft.finetuning_type === 'full') {
    p.push('`use_llama_pro` is only valid for Freeze or LoRA training.');
  }
  if (isLora && (ft.use_galore || ft.use_apollo || ft.use_badam)) {
    p.push('Cannot use LoRA with GaLore, APOLLO or BAdam together.');
  }
  if (Number(ft.use_galore) + Number(ft.use_apollo) + Number(ft.use_badam) > 1) {
    p.push('Cannot use GaLore, APOLLO or BAdam together.');
  }
  const useRefModel = ft.stage === 'dpo' && ft.pref_loss !== 'orpo' && ft.pref_loss !== 'simpo';
  if (ft.pissa_init && (ft.stage === 'ppo' || ft.stage === 'kto' || useRefModel)) {
    p.push('Cannot use PiSSA for current training stage.');
  }
  if (!isLora) {
    for (const [name, set] of [
      ['loraplus_lr_ratio', ft.loraplus_lr_ratio !== null],
      ['use_rslora', ft.use_rslora],
      ['use_dora', ft.use_dora],
      ['pissa_init', ft.pissa_init],
    ] as const) {
      if (set) p.push(`\`${name}\` is only valid for LoRA training (finetuning_type=${ft.finetuning_type}).`);
    }
  }
  if (ft.lora_rank < 1) p.push(`lora_rank must be at least 1, got ${ft.lora_rank}.`);
  if (ft.lora_dropout < 0 || ft.lora_dropout >= 1) p.push(`lora_dropout must be in [0, 1), got ${ft.lora_dropout}.`);

  // get_train_args
  if (ft.stage !== 'sft') {
    if (tr.predict_with_generate) p.push('`predict_with_generate` cannot be set as True except SFT.');
    if (data.neat_packing) p.push('`neat_packing` cannot be set as True except SFT.');
    if (data.train_on_prompt || data.mask_history) {
      p.push('`train_on_prompt` or `mask_history` cannot be set as True except SFT.');
    }
  }
  if (ft.stage === 'sft' && tr.do_predict && !tr.predict_with_generate) {
    p.push('Please enable `predict_with_generate` to save model predictions.');
  }
  if ((ft.stage === 'rm' || ft.stage === 'ppo') && tr.load_best_model_at_end) {
    p.push('RM and PPO stages do not support `load_best_model_at_end`.');
  }
  if (ft.stage === 'ppo' && !tr.do_train) {
    p.push('PPO training does not support evaluation, use the SFT stage to evaluate models.');
  }
  if (tr.max_steps === -1 && data.streaming) p.push('Please specify `max_steps` in streaming mode.');
  if (tr.do_train && data.dataset === null) p.push('Please specify dataset for training.');
  if ((tr.do_eval || tr.do_predict) && data.eval_dataset === null && data.val_size < 1e-6) {
    p.push('Please specify dataset for evaluation (eval_dataset, or val_size to split one off the training set).');
  }
  if (tr.predict_with_generate) {
    if (data.eval_dataset === null) p.push('Cannot use `predict_with_generate` if `eval_dataset` is None.');
    if (ft.compute_accuracy) p.push('Cannot use `predict_with_generate` and `compute_accuracy` together.');
  }
  for (const m of ft.metrics) {
    if ((PREDICT_METRICS as readonly string[]).includes(m)) continue;
    const guess = didYouMean(m, PREDICT_METRICS);
    p.push(
      `metrics: unknown metric "${m}"${guess ? ` (did you mean ${guess}?)` : ''}; known: ${PREDICT_METRICS.join(', ')}.`,
    );
  }
  if (!(ft.sql_timeout > 0)) p.push(`sql_timeout must be a positive number of seconds, got ${ft.sql_timeout}.`);
  if (tr.do_train && model.quantization_device_map === 'auto') {
    p.push('Cannot use device map for quantized models in training.');
  }

  // TrainingArguments.__post_init__ (transformers)
  if (tr.fp16 && tr.bf16) p.push('At most one of fp16 and bf16 can be True: pick one.');
  if (tr.warmup_ratio < 0 || tr.warmup_ratio > 1)
    p.push(`warmup_ratio must lie in range [0,1], got ${tr.warmup_ratio}.`);
  if (tr.warmup_steps < 0) p.push(`warmup_steps must be 0 or more, got ${tr.warmup_steps}.`);
  for (const [name, v] of [
    ['logging_steps', tr.logging_steps],
    ['save_steps', tr.save_steps],
    ['eval_steps', tr.eval_steps],
  ] as const) {
    if (v !== null && v > 1 && !Number.isInteger(v)) p.push(`--${name} must be an integer if bigger than 1: ${v}`);
    if (v !== null && v < 0) p.push(`--${name} must be positive, got ${v}.`);
  }
  if (tr.logging_strategy === 'steps' && tr.logging_steps === 0) {
    p.push('logging strategy steps requires non-zero --logging_steps');
  }
  if (tr.eval_strategy === 'steps' && (tr.eval_steps === null || tr.eval_steps === 0)) {
    p.push('evaluation strategy steps requires either non-zero --eval_steps or --logging_steps');
  }
  if (tr.load_best_model_at_end && tr.save_strategy !== 'best') {
    if (tr.eval_strategy !== tr.save_strategy) {
      p.push(
        `--load_best_model_at_end requires the save and eval strategy to match, but found\n- Evaluation strategy: ` +
          `${tr.eval_strategy}\n- Save strategy: ${tr.save_strategy}`,
      );
    } else if (
      tr.eval_strategy === 'steps' &&
      tr.eval_steps !== null &&
      !stepsAreMultiple(tr.save_steps, tr.eval_steps)
    ) {
      p.push(
        `--load_best_model_at_end requires the saving steps to be a round multiple of the evaluation steps, but ` +
          `found ${tr.save_steps}, which is not a round multiple of ${tr.eval_steps}.`,
      );
    }
  }
  if (tr.save_strategy === 'best' && tr.metric_for_best_model === null) {
    p.push("`metric_for_best_model` must be provided when using 'best' save_strategy.");
  }
  if (tr.lr_scheduler_type === 'reduce_lr_on_plateau' && tr.eval_strategy === 'no') {
    p.push('lr_scheduler_type reduce_lr_on_plateau requires an eval strategy: set eval_strategy=steps or epoch.');
  }
  if (tr.lr_scheduler_type === 'cosine_with_min_lr' || tr.lr_scheduler_type === 'cosine_warmup_with_min_lr') {
    const k = tr.lr_scheduler_kwargs;
    if (k.min_lr !== undefined && k.min_lr_rate !== undefined)
      p.push('Only one of min_lr or min_lr_rate should be set');
    else if (k.min_lr === undefined && k.min_lr_rate === undefined) {
      p.push(
        `One of min_lr or min_lr_rate should be set through the \`lr_scheduler_kwargs\` ` +
          `(e.g. lr_scheduler_kwargs='{"min_lr_rate": 0.1}')`,
      );
    }
  }
  if (tr.per_device_train_batch_size < 1) p.push('per_device_train_batch_size must be at least 1.');
  if (tr.per_device_eval_batch_size < 1) p.push('per_device_eval_batch_size must be at least 1.');
  if (tr.gradient_accumulation_steps < 1) p.push('gradient_accumulation_steps must be at least 1.');
  if (tr.learning_rate < 0) p.push(`learning_rate must be 0 or more, got ${tr.learning_rate}.`);
  if (!(ADAMW_OPTIMIZERS as readonly string[]).includes(tr.optim) && tr.optim !== 'sgd') {
    if (OTHER_HF_OPTIMIZERS.includes(tr.optim)) {
      p.push(`optim=${tr.optim} is not available on this engine yet: use optim=adamw_torch or optim=sgd.`);
    } else {
      const guess = didYouMean(tr.optim, [...ADAMW_OPTIMIZERS, 'sgd', ...OTHER_HF_OPTIMIZERS]);
      p.push(
        `unknown optim '${tr.optim}'${guess ? `; did you mean '${guess}'?` : ''} (this engine runs adamw_torch and sgd).`,
      );
    }
  }
  return p;
}

/** Whether save_steps is a whole multiple of eval_steps (both may be ratios of the total below 1). */
function stepsAreMultiple(save: number, every: number): boolean {
  if (save < 1 !== every < 1) return false;
  const ratio = save / every;
  return Math.abs(ratio - Math.round(ratio)) < 1e-9;
}
