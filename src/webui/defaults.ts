/**
 * The Train tab's starting values: LlamaBoard's (LLaMA-Factory's webui/components/train.py and top.py), so a user
 * coming from it sees the same form. Keys are lmforge train's argument names.
 */
export const LLAMABOARD_DEFAULTS = {
  stage: 'sft',
  finetuning_type: 'lora',
  dataset_dir: 'data',
  learning_rate: '5e-5',
  num_train_epochs: '3.0',
  max_grad_norm: '1.0',
  max_samples: '100000',
  cutoff_len: 2048,
  per_device_train_batch_size: 2,
  gradient_accumulation_steps: 8,
  val_size: 0,
  lr_scheduler_type: 'cosine',
  logging_steps: 5,
  save_steps: 100,
  warmup_steps: 0,
  max_steps: -1,
  lora_rank: 8,
  lora_alpha: 16,
  lora_dropout: 0,
  lora_target: 'all',
  freeze_trainable_layers: 2,
  freeze_trainable_modules: 'all',
  pref_beta: 0.1,
  pref_loss: 'sigmoid',
  quantization_bit: 'none',
  plot_loss: true,
} as const;
