// getTokenizedDataset: worker threads give the single-threaded records; the cache and tokenized_path behave as upstream.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { getDataset, type Stage } from '../../src/data/dataset.js';
import { getTokenizedDataset, type PreprocessArgs } from '../../src/data/preprocess.js';
import { getTemplate } from '../../src/data/template/index.js';
import { decodeRecords, encodeRecords } from '../../src/data/token-store.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { LENML, metaLlama3Dir, tempDir } from '../util/tokenizers.js';
import { tempDataDir } from './temp-data.js';

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

test('two worker threads produce exactly the single-threaded records (supervised, packed, kto)', async () => {
  const { tokenizer, template } = setup();
  const cases: Array<[PreprocessArgs, Stage]> = [
    [{}, 'sft'],
    [{ packing: true }, 'sft'],
    // KTO pairs each example with the previous one of its batch: shards must keep the batch borders.
    [{ dataset: 'kto_demo', preprocessing_batch_size: 3 }, 'kto'],
  ];
  for (const [extra, stage] of cases) {
    const args = { ...BASE, ...extra };
    const one = await getTokenizedDataset(args, stage, tokenizer, template, { cache: false, log: quiet });
    const two = await getTokenizedDataset({ ...args, preprocessing_num_workers: 2 }, stage, tokenizer, template, {
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

test('cache: editing a data file changes the key', async () => {
  const { tokenizer, template } = setup();
  const rows = [{ instruction: 'Say hi', input: '', output: 'Hi!' }];
  const dir = tempDataDir({ 'dataset_info.json': { tiny: { file_name: 'tiny.json' } }, 'tiny.json': rows });
  const args: PreprocessArgs = { dataset: 'tiny', dataset_dir: dir, cache_dir: tempDir('tok-cache-edit') };
  const first = await getTokenizedDataset(args, 'sft', tokenizer, template, { log: quiet });
  assert.equal((await getTokenizedDataset(args, 'sft', tokenizer, template, { log: quiet })).source, 'cache');
  writeFileSync(join(dir, 'tiny.json'), JSON.stringify([{ ...rows[0], output: 'Hello!' }]));
  const edited = await getTokenizedDataset(args, 'sft', tokenizer, template, { log: quiet });
  assert.equal(edited.source, 'built');
  assert.notEqual(edited.cachePath, first.cachePath);
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
  const foreign = tempDataDir({ 'notes.txt': 'not tokenized data' });
  await assert.rejects(
    getTokenizedDataset({ ...BASE, tokenized_path: foreign }, 'sft', tokenizer, template, { log: quiet }),
    /holds files but no meta.json/,
  );
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

test('llama3 on the bundled sharegpt and alpaca data: every record equals the Meta chat template rendering', async () => {
  const tokenizer = Tokenizer.fromDir(metaLlama3Dir());
  const template = getTemplate('llama3', tokenizer, { log: quiet });
  const args = { ...BASE, cutoff_len: 4096 };
  const data = await getDataset(args, 'sft', { log: quiet });
  const out = await getTokenizedDataset(args, 'sft', tokenizer, template, { cache: false, dataset: data, log: quiet });
  const records = out.train_dataset as Array<{ input_ids: number[]; labels: number[] }>;
  assert.equal(records.length, data.train_dataset!.length);
  for (const [i, ex] of data.train_dataset!.entries()) {
    const messages = [...ex._prompt, ...ex._response].map((m) => ({ role: m.role, content: m.content }));
    if (ex._system) messages.unshift({ role: 'system', content: ex._system });
    assert.deepEqual(
      records[i]!.input_ids,
      await tokenizer.applyChatTemplate(messages, { tokenize: true }),
      `record ${i}`,
    );
    // Trained tokens are exactly the assistant replies with their <|eot_id|>.
    const replies = ex._prompt.filter((m) => m.role === 'assistant').length + 1;
    const trained = tokenizer.decode(records[i]!.labels.filter((id) => id !== -100));
    assert.equal(trained.split('<|eot_id|>').length - 1, replies, `record ${i}`);
  }
});
