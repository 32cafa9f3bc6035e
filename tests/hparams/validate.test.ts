import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HparamsError,
  INFER_GROUPS,
  parseTrainArgs,
  quantizationOf,
  TRAINING_ARGS,
  typeArgs,
} from '../../src/hparams/index.js';

const INFER_GROUPS_WITH_TRAINING = { ...INFER_GROUPS, training: TRAINING_ARGS };

const base = { model_name_or_path: 'm', dataset: 'd', do_train: true };

function rejects(args: Record<string, unknown>, pattern: RegExp): void {
  try {
    parseTrainArgs({ ...base, ...args });
  } catch (e) {
    assert.ok(e instanceof HparamsError);
    assert.ok(
      e.problems.some((p) => pattern.test(p)),
      `expected a problem matching ${pattern}, got:\n${e.problems.join('\n')}`,
    );
    return;
  }
  assert.fail(`expected ${JSON.stringify(args)} to be rejected`);
}

test('LLaMA-Factory cross-argument rules reject what it rejects', () => {
  rejects({ fp16: true, bf16: true }, /At most one of fp16 and bf16/);
  rejects({ model_name_or_path: null }, /Please provide `model_name_or_path`/);
  rejects(
    { stage: 'pt', predict_with_generate: true, eval_dataset: 'e' },
    /predict_with_generate` cannot be set as True except SFT/,
  );
  rejects({ stage: 'rm', train_on_prompt: true }, /except SFT/);
  rejects({ do_predict: true, eval_dataset: 'e' }, /Please enable `predict_with_generate`/);
  rejects({ finetuning_type: 'full', adapter_name_or_path: 'a' }, /Adapter is only valid for the LoRA method/);
  rejects({ finetuning_type: 'freeze', quantization_bit: 4 }, /Quantization is only compatible with the LoRA/);
  rejects({ quantization_bit: 3 }, /must be 4 or 8 for bitsandbytes/);
  rejects({ quantization_bit: 4, quantization_method: 'hqq' }, /quantization_method hqq is not available/);
  rejects({ quantization_bit: 4, adapter_name_or_path: 'a,b' }, /single adapter/);
  rejects({ val_size: 0.1, eval_dataset: 'e' }, /Cannot specify `val_size` if `eval_dataset` is not None/);
  rejects({ streaming: true, val_size: 0.1, max_steps: 10 }, /Streaming mode should have an integer val size/);
  rejects({ streaming: true }, /Please specify `max_steps` in streaming mode/);
  rejects({ mask_history: true, train_on_prompt: true }, /incompatible with `train_on_prompt`/);
  rejects({ interleave_probs: '0.5,0.5' }, /only valid for interleaved mixing/);
  rejects({ stage: 'rm', load_best_model_at_end: true, eval_strategy: 'steps', val_size: 0.1 }, /RM and PPO stages/);
  rejects({ stage: 'ppo' }, /`reward_model` is necessary for PPO/);
  rejects(
    { stage: 'ppo', reward_model: 'r', do_train: false, finetuning_type: 'full' },
    /PPO training does not support evaluation/,
  );
  rejects({ finetuning_type: 'full', use_dora: true }, /`use_dora` is only valid for LoRA/);
  rejects({ use_galore: true }, /Cannot use LoRA with GaLore/);
  rejects({ stage: 'dpo', pref_loss: 'hinge', dpo_label_smoothing: 0.1 }, /only valid for sigmoid/);
  rejects({ dataset: null }, /Please specify dataset for training/);
  rejects({ do_eval: true }, /Please specify dataset for evaluation/);
  rejects(
    { predict_with_generate: true, compute_accuracy: true, eval_dataset: 'e' },
    /predict_with_generate` and `compute_accuracy`/,
  );
});

test('Hugging Face TrainingArguments rules', () => {
  rejects(
    { load_best_model_at_end: true, eval_strategy: 'steps', save_strategy: 'epoch', val_size: 0.1 },
    /save and eval strategy to match/,
  );
  rejects(
    { load_best_model_at_end: true, eval_strategy: 'steps', eval_steps: 30, save_steps: 100, val_size: 0.1 },
    /round multiple of the evaluation steps/,
  );
  rejects({ lr_scheduler_type: 'reduce_lr_on_plateau' }, /requires an eval strategy/);
  rejects({ lr_scheduler_type: 'cosine_with_min_lr' }, /One of min_lr or min_lr_rate/);
  rejects({ logging_steps: 2.5 }, /--logging_steps must be an integer if bigger than 1/);
  rejects({ warmup_ratio: 1.5 }, /warmup_ratio must lie in range/);
  rejects({ save_strategy: 'best' }, /metric_for_best_model` must be provided/);
  rejects({ optim: 'adafactor' }, /not available on this engine yet/);
  rejects({ optim: 'sdg' }, /did you mean 'sgd'/);
  rejects({ optim: 'adamw_torh' }, /did you mean 'adamw_torch'/);
});

test('valid combinations pass and derived values follow HF', () => {
  const a = parseTrainArgs({
    ...base,
    eval_strategy: 'steps',
    eval_steps: 50,
    save_steps: 100,
    val_size: 0.1,
    optim: 'adamw_8bit',
    metric_for_best_model: 'eval_loss',
  });
  assert.equal(a.training.do_eval, true);
  assert.equal(a.training.greater_is_better, false);
  assert.ok(a.notes.some((n) => n.startsWith('optim: adamw_8bit runs as f32 AdamW')));
  const q = parseTrainArgs({ ...base, quantization_bit: 4, template: 'qwen' });
  assert.ok(!q.notes.some((n) => n.startsWith('quantization_bit:')), 'quantization is implemented: no note');
  assert.deepEqual(quantizationOf(q.model), { bits: 4, type: 'nf4', doubleQuant: true });
  const acc = parseTrainArgs({ ...base, metric_for_best_model: 'accuracy', template: 't' });
  assert.equal(acc.training.greater_is_better, true);
});

test('arguments that would change the weights, metrics or memory are errors, not notes (issue #23 item 7)', () => {
  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{ use_badam: true, finetuning_type: 'full', badam_mode: 'ratio' }, /badam_mode: "ratio" is not supported/],
    [{ use_adam_mini: true }, /use_adam_mini: true is not supported .*Adam-mini/],
    [{ use_galore: true, finetuning_type: 'full', galore_layerwise: true }, /galore_layerwise: true is not supported/],
    [
      { use_galore: true, finetuning_type: 'full', galore_proj_type: 'left' },
      /galore_proj_type: "left" is not supported/,
    ],
    [{ label_smoothing_factor: 0.1 }, /label_smoothing_factor: 0.1 is not supported/],
    [{ load_best_model_at_end: true }, /load_best_model_at_end: true is not supported/],
    [{ save_strategy: 'best', metric_for_best_model: 'loss' }, /save_strategy: "best" is not supported/],
    [{ rope_scaling: 'linear' }, /rope_scaling: "linear" is not supported/],
    [{ init_special_tokens: 'desc_init' }, /init_special_tokens: "desc_init" is not supported/],
    [{ num_beams: 4 }, /num_beams: 4 is not supported .*beam search/],
  ];
  for (const [args, pattern] of refused) rejects(args, pattern);
  // The LLaMA-Factory rule checks still run beside a refusal: one message lists everything.
  rejects({ quantization_bit: 4, finetuning_type: 'freeze' }, /Quantization is only compatible with the LoRA/);
  // Values that change nothing are not refused (the default, beam width 1), and hardware-only knobs stay notes.
  const ok = parseTrainArgs({ ...base, generation_num_beams: 1, quantization_bit: null, flash_attn: 'fa2' });
  assert.ok(ok.notes.some((n) => n.startsWith('flash_attn: FlashAttention is CUDA-only')));
  assert.ok(parseTrainArgs({ ...base, ddp_timeout: 9000 }).notes.some((n) => n.startsWith('ddp_timeout:')));
  // GaLore and BAdam are implemented (issue #18): use_galore / use_badam parse for full training.
  assert.equal(parseTrainArgs({ ...base, use_badam: true, finetuning_type: 'full' }).finetuning.use_badam, true);
  assert.equal(parseTrainArgs({ ...base, shift_attn: true }).model.shift_attn, true);
  assert.equal(parseTrainArgs({ ...base, use_galore: true, finetuning_type: 'full' }).finetuning.use_galore, true);
  // Vocabulary growth is implemented (issue #17): resize_vocab, add_tokens and add_special_tokens parse.
  const grown = parseTrainArgs({ ...base, resize_vocab: true, add_tokens: 'a,b', add_special_tokens: '<x>' });
  assert.deepEqual(grown.model.add_special_tokens, ['<x>']);
});

test('training-only refusals do not stop inference; those that size inference do', () => {
  const typed = typeArgs(
    { model_name_or_path: 'm', neftune_noise_alpha: 5, use_dora: true },
    INFER_GROUPS_WITH_TRAINING,
  );
  assert.equal(typed.groups.finetuning?.use_dora, true);
  assert.throws(
    () => typeArgs({ model_name_or_path: 'm', num_beams: 4 }, INFER_GROUPS),
    /num_beams: 4 is not supported by lmforge/,
  );
});

test('every problem is reported at once, in one message', () => {
  try {
    parseTrainArgs({ model_name_or_path: 'm', do_train: true, fp16: true, bf16: true });
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof HparamsError);
    assert.equal(e.problems.length, 2);
    assert.match(e.message, /^2 problems with the arguments:\n {2}- /);
    assert.equal(e.userFacing, true);
  }
});
