// What `lmforge tokenizer train|stats` read (issue #17 items 1 and 3): text files and dataset_info.json datasets by
// their columns, and one clear line for each thing a user can get wrong.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { readCorpus } from '../../src/tokenizer/train/corpus.js';
import { tempDir } from '../util/tokenizers.js';

const none = { textFiles: [], datasets: [], datasetDir: 'examples/data', maxSamples: null };

test('datasets give their text columns: alpaca prompt/query/response, sharegpt message contents, pt text', async () => {
  const alpaca = await readCorpus({ ...none, datasets: ['alpaca_zh_demo'], maxSamples: 2 });
  assert.deepEqual(alpaca, [
    '给出三个提高睡眠质量的建议。',
    '1. 每天固定时间上床和起床。\n2. 睡前一小时不看手机和电脑屏幕。\n3. 下午之后少喝咖啡和浓茶。',
    '把下面的句子翻译成英文。',
    '今天的天气非常好。',
    'The weather is very nice today.',
  ]);
  const sharegpt = await readCorpus({ ...none, datasets: ['sharegpt_multiturn_demo'], maxSamples: 1 });
  assert.ok(sharegpt[0]?.startsWith('I want to start running.'));
  assert.ok(!sharegpt.includes('human') && !sharegpt.includes('gpt'), 'roles are not text');
  const pt = await readCorpus({ ...none, datasets: ['tiny_pretrain'], maxSamples: 3 });
  assert.equal(pt.length, 3);
  assert.ok(pt[0]?.startsWith('蜀先主庙·刘禹锡'));
});

test('text files: one text per line (.txt), every string field of json records', async () => {
  const dir = tempDir('corpus');
  writeFileSync(join(dir, 'a.txt'), 'first line\nsecond line\n');
  writeFileSync(join(dir, 'b.jsonl'), '{"text": "x", "meta": {"note": "y"}, "n": 3}\n');
  assert.deepEqual(await readCorpus({ ...none, textFiles: [join(dir, 'a.txt'), join(dir, 'b.jsonl')] }), [
    'first line',
    'second line',
    'x',
    'y',
  ]);
  await assert.rejects(readCorpus({ ...none, textFiles: [join(dir, 'missing.txt')] }), /does not exist/);
  await assert.rejects(readCorpus(none), /no text to read: give --text_files/);
});

test('the command: unknown subcommand, missing arguments and bad values are one-line user errors', async () => {
  const errors: string[] = [];
  const error = console.error;
  console.error = (...a: unknown[]) => errors.push(a.join(' '));
  try {
    assert.equal(await main(['tokenizer', 'shrink']), 2);
    assert.match(errors.join('\n'), /unknown subcommand 'shrink': use train, extend or stats/);
    errors.length = 0;
    assert.equal(await main(['tokenizer', 'train', '--text_files', 'README.md']), 1);
    assert.match(errors.join('\n'), /--output_dir is required/);
    errors.length = 0;
    assert.equal(await main(['tokenizer', 'extend', '--model_name_or_path', 'examples/tiny/base']), 1);
    assert.match(errors.join('\n'), /--new_tokenizer is required/);
    errors.length = 0;
    const out = tempDir('cli-small');
    const train = ['tokenizer', 'train', '--vocab_size', '100', '--output_dir', out];
    assert.equal(await main([...train, '--text_files', 'README.md']), 1);
    assert.match(errors.join('\n'), /README\.md: unknown file type; use \.txt, \.json/);
    writeFileSync(join(out, 'a.txt'), 'some text\n');
    assert.equal(await main([...train, '--text_files', join(out, 'a.txt')]), 1);
    assert.match(errors.join('\n'), /vocab_size 100 is too small/);
    assert.ok(!errors.join('\n').includes('    at '), 'no stack trace');
  } finally {
    console.error = error;
  }
});
