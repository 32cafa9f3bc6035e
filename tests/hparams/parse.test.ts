import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HparamsError, parseTrainArgs, readArgs, writeTrainingArgsYaml } from '../../src/hparams/index.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'lmf-hparams-'));

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof HparamsError, `expected HparamsError, got ${e}`);
    return e.problems;
  }
  assert.fail('expected the arguments to be rejected');
}

test('the LoRA command of seed 001 parses with its types, and notes what this engine ignores', () => {
  const argv = [
    ...['--stage', 'sft', '--do_train', 'True', '--model_name_or_path', 'baichuan-inc/Baichuan2-7B-Chat'],
    ...['--preprocessing_num_workers', '16', '--finetuning_type', 'lora', '--template', 'baichuan2'],
    ...['--flash_attn', 'auto', '--dataset_dir', 'llama-factory/data/mine', '--dataset', 'alpaca_zh, identity'],
    ...['--cutoff_len', '1024', '--learning_rate', '5e-05', '--num_train_epochs', '3.0', '--max_samples', '100000'],
    ...['--per_device_train_batch_size', '2', '--gradient_accumulation_steps', '8', '--lr_scheduler_type', 'cosine'],
    ...['--max_grad_norm', '1.0', '--logging_steps', '5', '--save_steps', '100', '--warmup_steps', '0'],
    ...['--optim', 'adamw_torch', '--packing', 'False', '--report_to', 'none', '--output_dir', 'saves/b/lora/train'],
    ...[
      '--fp16',
      'True',
      '--plot_loss',
      'True',
      '--ddp_timeout',
      '180000000',
      '--include_num_input_tokens_seen',
      'True',
    ],
    ...['--lora_rank', '8', '--lora_alpha', '16', '--lora_dropout', '0', '--lora_target', 'all'],
    ...['--deepspeed', 'cache/ds_z3_config.json'],
  ];
  const a = parseTrainArgs(argv);
  assert.equal(a.finetuning.stage, 'sft');
  assert.equal(a.training.do_train, true);
  assert.deepEqual(a.data.dataset, ['alpaca_zh', 'identity']);
  assert.equal(a.data.cutoff_len, 1024);
  assert.equal(a.training.learning_rate, 5e-5);
  assert.equal(a.training.num_train_epochs, 3);
  assert.equal(a.training.per_device_train_batch_size, 2);
  assert.equal(a.training.lr_scheduler_type, 'cosine');
  assert.equal(a.training.fp16, true);
  assert.equal(a.model.compute_dtype, 'f16');
  assert.equal(a.data.packing, false);
  assert.deepEqual(a.finetuning.lora_target, ['all']);
  assert.deepEqual(a.training.report_to, []);
  const noted = a.notes.map((n) => n.split(':')[0]);
  for (const name of ['preprocessing_num_workers', 'fp16', 'ddp_timeout', 'deepspeed']) assert.ok(noted.includes(name));
  assert.ok(!noted.includes('flash_attn'), 'flash_attn=auto is the default and needs no note');
  assert.ok(!noted.includes('report_to'), 'report_to=none needs no note');
});

test('the predict command of seed 001: a bare --do_predict flag followed by another flag means true', () => {
  const a = parseTrainArgs([
    ...['--stage', 'sft', '--do_predict', '--model_name_or_path', '/llama3/Meta-Llama-3-8B-Instruct'],
    ...[
      '--adapter_name_or_path',
      './saves/LLaMA3-8B/lora/sft',
      '--eval_dataset',
      'alpaca_gpt4_zh,identity,adgen_local',
    ],
    ...['--dataset_dir', './data', '--template', 'llama3', '--finetuning_type', 'lora'],
    ...['--output_dir', './saves/LLaMA3-8B/lora/predict', '--overwrite_cache', '--overwrite_output_dir'],
    ...[
      '--cutoff_len',
      '1024',
      '--per_device_eval_batch_size',
      '1',
      '--max_samples',
      '20',
      '--predict_with_generate',
      'True',
    ],
  ]);
  assert.equal(a.training.do_predict, true);
  assert.equal(a.data.overwrite_cache, true);
  assert.equal(a.training.overwrite_output_dir, true);
  assert.deepEqual(a.model.adapter_name_or_path, ['./saves/LLaMA3-8B/lora/sft']);
  assert.deepEqual(a.data.eval_dataset, ['alpaca_gpt4_zh', 'identity', 'adgen_local']);
  assert.equal(a.training.generation_max_length, 1024, 'generation_max_length defaults to cutoff_len');
});

test('the ChatGLM command of seed 002 parses; lora_alpha defaults to twice the rank', () => {
  const a = parseTrainArgs(
    (
      '--stage sft --do_train True --model_name_or_path ./THUDM/chatglm3-6b-base --finetuning_type lora ' +
      '--template default --dataset_dir data --dataset function_call,alpaca_gpt4_en,alpaca_gpt4_zh --cutoff_len 2048 ' +
      '--learning_rate 0.002 --num_train_epochs 10.0 --max_samples 8000 --per_device_train_batch_size 4 ' +
      '--gradient_accumulation_steps 4 --lr_scheduler_type cosine --max_grad_norm 1.0 --logging_steps 5 ' +
      '--save_steps 200 --warmup_steps 0 --lora_rank 8 --lora_dropout 0.1 --lora_target all ' +
      '--output_dir saves\\ChatGLM3-6B-Base\\lora\\train_full --fp16 True --plot_loss True'
    ).split(' '),
  );
  assert.equal(a.finetuning.lora_alpha, 16);
  assert.equal(a.finetuning.lora_dropout, 0.1);
  assert.equal(a.training.output_dir, 'saves\\ChatGLM3-6B-Base\\lora\\train_full');
  assert.equal(a.data.dataset?.length, 3);
});

test('a YAML file then key=value overrides, as llamafactory-cli train cfg.yaml key=value', () => {
  const dir = tmp();
  const cfg = join(dir, 'llama3_lora_sft.yaml');
  writeFileSync(
    cfg,
    [
      '### model',
      'model_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct',
      '### method',
      'stage: sft',
      'do_train: true',
      'finetuning_type: lora',
      'lora_target: [q_proj, v_proj]',
      '### dataset',
      'dataset: identity,alpaca_en_demo',
      'template: llama3',
      'cutoff_len: 2048',
      'val_size: 0.1',
      'eval_strategy: steps',
      'lr_scheduler_kwargs: {num_cycles: 2}',
      'learning_rate: 1.0e-4',
      'bf16: true',
    ].join('\n'),
  );
  const a = parseTrainArgs([
    cfg,
    'learning_rate=3e-4',
    'lora_rank=16',
    'lr_scheduler_kwargs.power=2',
    'logging_steps=10',
  ]);
  assert.equal(a.file, cfg);
  assert.equal(a.training.learning_rate, 3e-4);
  assert.equal(a.finetuning.lora_rank, 16);
  assert.equal(a.finetuning.lora_alpha, 32);
  assert.deepEqual(a.finetuning.lora_target, ['q_proj', 'v_proj']);
  assert.deepEqual(a.data.dataset, ['identity', 'alpaca_en_demo']);
  assert.deepEqual(a.training.lr_scheduler_kwargs, { num_cycles: 2, power: '2' });
  assert.equal(a.training.do_eval, true, 'an eval strategy turns do_eval on');
  assert.equal(a.training.eval_steps, 10, 'eval_steps defaults to logging_steps');
  assert.equal(a.model.compute_dtype, 'bf16');
});

test('JSON config files and --key=value flags', () => {
  const dir = tmp();
  const cfg = join(dir, 'cfg.json');
  writeFileSync(cfg, JSON.stringify({ model_name_or_path: 'm', stage: 'pt', do_train: 1, dataset: ['c4_demo'] }));
  const a = parseTrainArgs([cfg, '--cutoff_len=512', '--do_train', 'false']);
  assert.equal(a.training.do_train, false);
  assert.equal(a.data.cutoff_len, 512);
  assert.equal(a.data.packing, true, 'pre-training packs by default');
  const b = parseTrainArgs(['--model_name_or_path=m', '--freeze_trainable_layers', '-2', '--finetuning_type=freeze']);
  assert.equal(b.finetuning.freeze_trainable_layers, -2);
});

test('booleans accept true/false/1/0 in any case; null clears an optional argument', () => {
  for (const [text, value] of [
    ['true', true],
    ['False', false],
    ['1', true],
    ['0', false],
    ['yes', true],
  ] as const) {
    assert.equal(parseTrainArgs(['--model_name_or_path', 'm', '--plot_loss', text]).finetuning.plot_loss, value);
  }
  const a = parseTrainArgs({ model_name_or_path: 'm', template: 'null', max_samples: null });
  assert.equal(a.data.template, null);
  assert.equal(a.data.max_samples, null);
});

test('unknown arguments are reported together, each with a suggestion', () => {
  const problems = problemsOf(() =>
    parseTrainArgs([
      '--model_name_or_path',
      'm',
      '--lora_rnak',
      '8',
      '--learning_rat=1e-4',
      '--per_device_batch_size',
      '2',
    ]),
  );
  assert.equal(problems.length, 3);
  assert.match(problems[0] as string, /unknown argument 'lora_rnak'; did you mean 'lora_rank'\?/);
  assert.match(problems[1] as string, /did you mean 'learning_rate'\?/);
  assert.match(
    problems[2] as string,
    /did you mean 'per_device_train_batch_size'|did you mean 'per_device_eval_batch_size'/,
  );
  const far = problemsOf(() => parseTrainArgs({ model_name_or_path: 'm', zzz_totally_else: 1 }));
  assert.doesNotMatch(far[0] as string, /did you mean/);
});

test('ill-typed values name the argument and what it takes', () => {
  const problems = problemsOf(() =>
    parseTrainArgs(['--model_name_or_path', 'm', '--lora_rank', 'abc', '--stage', 'stf']),
  );
  assert.deepEqual(problems, [
    "lora_rank: expected an integer, got 'abc'",
    "stage: must be one of pt, sft, rm, ppo, dpo, kto, orpo; got 'stf'; did you mean 'sft'?",
  ]);
  // 'maybe' is not a boolean literal, so the bare --plot_loss means true and 'maybe' is a stray token.
  assert.throws(() => readArgs(['--plot_loss', 'maybe']), /unexpected argument 'maybe'/);
  assert.throws(() => readArgs(['--learning_rate']), /--learning_rate needs a value/);
  assert.throws(() => readArgs(['--dataset', 'x', 'cfg.yaml']), /a config file must come first/);
});

test('evaluation_strategy is read as eval_strategy, with a note', () => {
  const a = parseTrainArgs({ model_name_or_path: 'm', evaluation_strategy: 'epoch', val_size: 0.1, dataset: 'd' });
  assert.equal(a.training.eval_strategy, 'epoch');
  assert.ok(a.notes.some((n) => n.startsWith('evaluation_strategy: read as eval_strategy')));
});

test('training_args.yaml keeps exactly what the user gave, sorted, and parses back to the same arguments', () => {
  const dir = tmp();
  const a = parseTrainArgs(['--model_name_or_path', 'm', '--dataset', 'a,b', '--do_train', '--learning_rate', '1e-4']);
  const path = join(dir, 'training_args.yaml');
  writeTrainingArgsYaml(path, a);
  const text = readFileSync(path, 'utf8');
  assert.equal(text, 'dataset: a,b\ndo_train: true\nlearning_rate: 0.0001\nmodel_name_or_path: m\n');
  const b = parseTrainArgs([path]);
  assert.deepEqual(b.given, a.given);
  assert.deepEqual(b.training, a.training);
});

test('a DPO config in the layout of LLaMA-Factory examples/ (section comments, trailing comments) parses', () => {
  const dir = tmp();
  const cfg = join(dir, 'qwen_lora_dpo.yaml');
  writeFileSync(
    cfg,
    `### model
model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct
trust_remote_code: true

### method
stage: dpo
do_train: true
finetuning_type: lora
lora_rank: 4
lora_target: all
pref_beta: 0.2
pref_loss: sigmoid  # choices: [sigmoid (dpo), orpo, simpo]

### dataset
dataset: dpo_en_demo
template: qwen
cutoff_len: 1024
max_samples: 500
preprocessing_num_workers: 8

### output
output_dir: saves/qwen/lora/dpo
logging_steps: 10
save_steps: 500
plot_loss: true
overwrite_output_dir: true

### train
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
learning_rate: 5.0e-6
num_train_epochs: 2.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
ddp_timeout: 180000000

### eval
# val_size: 0.1
`,
  );
  const a = parseTrainArgs([cfg]);
  assert.equal(a.finetuning.stage, 'dpo');
  assert.equal(a.finetuning.pref_beta, 0.2);
  assert.equal(a.finetuning.pref_loss, 'sigmoid');
  assert.equal(a.training.learning_rate, 5e-6);
  assert.equal(a.training.warmup_ratio, 0.1);
  assert.equal(a.finetuning.lora_alpha, 8);
  assert.deepEqual(
    a.notes.map((n) => n.split(':')[0]),
    ['trust_remote_code', 'preprocessing_num_workers', 'ddp_timeout'],
  );
});
