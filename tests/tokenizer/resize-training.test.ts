// LLaMA-Factory's add_tokens / add_special_tokens / resize_vocab in training (issue #17 item 2): the tokens join the
// saved tokenizer, the embedding grows to a multiple of 64 with the new rows trained, and LoRA trains the embedding
// in full (additional_target) when the vocabulary was resized.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseChatArgs } from '../../src/cli/chat.js';
import { exportModel, parseExportArgs } from '../../src/export/index.js';
import { ChatRunner } from '../../src/infer/chat-runner.js';
import { withSafetensors } from '../../src/io/safetensors.js';
import { loadModel } from '../../src/models/causal-lm.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { train } from '../../src/train/trainer.js';
import { tempDir } from '../util/tokenizers.js';

const common = {
  model_name_or_path: 'examples/tiny/base',
  do_train: true,
  dataset_dir: 'examples/data',
  cutoff_len: 64,
  overwrite_cache: true,
  preprocessing_num_workers: 1,
  per_device_train_batch_size: 2,
  max_steps: 2,
  logging_steps: 1,
  learning_rate: 1.0e-3,
  overwrite_output_dir: true,
  save_only_model: true,
  report_to: 'none',
};

test('full pt with add_tokens: resize_vocab turns on, the embedding grows to 8256 rows, the tokenizer keeps the tokens', async () => {
  const out = join(tempDir('resize-train'), 'run');
  const lines: string[] = [];
  await train(
    { ...common, stage: 'pt', finetuning_type: 'full', dataset: 'tiny_pretrain', max_samples: 16, output_dir: out },
    { progress: false, log: (m: string) => lines.push(m) },
  );
  assert.ok(!lines.some((l) => l.includes('resize_vocab')));
  const out2 = join(tempDir('resize-train'), 'run2');
  const lines2: string[] = [];
  await train(
    {
      ...common,
      stage: 'pt',
      finetuning_type: 'full',
      dataset: 'tiny_pretrain',
      max_samples: 16,
      add_tokens: '春风,明月',
      output_dir: out2,
    },
    { progress: false, log: (m: string) => lines2.push(m) },
  );
  assert.ok(
    lines2.some((l) => l.includes('changed `resize_vocab` to True')),
    lines2.join('\n'),
  );
  assert.equal(JSON.parse(readFileSync(join(out2, 'config.json'), 'utf8')).vocab_size, 8256);
  const tok = Tokenizer.fromDir(out2);
  assert.equal(tok.tokenToId('春风'), 8192);
  assert.equal(tok.tokenToId('明月'), 8193);
  withSafetensors(join(out2, 'model.safetensors'), (f) => {
    assert.deepEqual(f.info('model.embed_tokens.weight').shape, [8256, 256]);
  });
  // Without new tokens and without resize_vocab the vocabulary is left alone.
  assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).vocab_size, 8192);
});

test('LoRA sft with add_special_tokens: the adapter saves the grown embedding in full', async () => {
  const out = join(tempDir('resize-lora'), 'run');
  const lines: string[] = [];
  await train(
    {
      ...common,
      stage: 'sft',
      finetuning_type: 'lora',
      lora_target: 'all',
      dataset: 'tiny_sft',
      template: 'qwen',
      default_system: '',
      max_samples: 8,
      add_special_tokens: '<|zh|>',
      output_dir: out,
    },
    { progress: false, log: (m: string) => lines.push(m) },
  );
  assert.ok(lines.some((l) => l.includes('Vocab has been resized, add embed_tokens to trainable params.')));
  const names = withSafetensors(join(out, 'adapter_model.safetensors'), (f) =>
    f.names.filter((n) => n.includes('embed_tokens')).map((n) => [n, f.info(n).shape]),
  );
  assert.ok(
    names.some(([, shape]) => (shape as number[])[0] === 8256),
    JSON.stringify(names),
  );
  assert.equal(Tokenizer.fromDir(out).tokenToId('<|zh|>'), 8192);
  // Chat on the base + adapter takes the same add_special_tokens again (as LLaMA-Factory): the base grows to fit.
  const argv = ['--model_name_or_path', 'examples/tiny/base', '--adapter_name_or_path', out, '--template', 'qwen'];
  argv.push('--finetuning_type', 'lora', '--default_system', '');
  await assert.rejects(ChatRunner.load(parseChatArgs(argv).model), /embed_tokens\.weight has shape \[8256,256\]/);
  const runner = await ChatRunner.load(parseChatArgs([...argv, '--add_special_tokens', '<|zh|>']).model);
  assert.equal(runner.model.config.vocabSize, 8256);
  assert.equal(runner.tokenizer.tokenToId('<|zh|>'), 8192);
  const reply = runner.model.generateDetailed([[8190, 8192]], { maxNewTokens: 3 });
  assert.equal((reply.tokens[0] as number[]).length, 3);
  runner.dispose();
  // Export merges the adapter into the grown base: a checkpoint of 8256 rows with the token in its tokenizer.
  const exportDir = join(tempDir('resize-export'), 'merged');
  const exportArgv = ['--model_name_or_path', 'examples/tiny/base', '--adapter_name_or_path', out, '--template'];
  exportArgv.push('qwen', '--finetuning_type', 'lora', '--export_dir', exportDir, '--add_special_tokens', '<|zh|>');
  await exportModel(parseExportArgs(exportArgv).args, { log: () => {} });
  assert.equal(JSON.parse(readFileSync(join(exportDir, 'config.json'), 'utf8')).vocab_size, 8256);
  assert.equal(Tokenizer.fromDir(exportDir).tokenToId('<|zh|>'), 8192);
  const merged = await loadModel(exportDir);
  assert.equal(merged.config.vocabSize, 8256);
  merged.dispose();
});
