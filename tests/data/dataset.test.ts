import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DatasetArgs } from '../../src/data/index.js';
import {
  DatasetConfigError,
  getDataset,
  HubDownloadError,
  InvalidDatasetError,
  UnknownDatasetError,
} from '../../src/data/index.js';
import { writeParquet } from '../util/parquet-writer.js';
import { tempDataDir } from './temp-data.js';

const EXAMPLES = join(import.meta.dirname, '../../examples/data');
const quiet = { log: () => {} };

const pairs = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({ instruction: `${tag}${i}`, output: `${tag}-answer-${i}` }));

const dir = tempDataDir({
  'dataset_info.json': {
    a: { file_name: 'a.json' },
    b: { file_name: 'b.jsonl' },
    csv: { file_name: 'c.csv' },
    pq: { file_name: 'p.parquet', columns: { prompt: 'q', response: 'r' } },
    folder: { file_name: 'parts', columns: { prompt: 'text' } },
    sampled: { file_name: 'a.json', num_samples: 12 },
    chat: { file_name: 'chat.json', formatting: 'sharegpt' },
    broken: { file_name: 'broken.json', formatting: 'sharegpt' },
    noresp: { file_name: 'noresp.json' },
    rank: { file_name: 'rank.json', ranking: true, columns: { prompt: 'instruction', chosen: 'c', rejected: 'r' } },
    kto: { file_name: 'kto.json', columns: { prompt: 'instruction', response: 'output', kto_tag: 'label' } },
    script_py: { script_url: 'scripted' },
    script_data: { script_url: 'splits', split: 'validation' },
    cloud: { cloud_file_name: 's3://bucket/data.json' },
    hub: { hf_hub_url: 'lmforge-test/no-such-dataset-7f3a', ms_hub_url: 'lmforge-test/no-such-dataset-7f3a' },
    om: { om_hub_url: 'lmforge-test/none' },
  },
  'a.json': pairs(5, 'a'),
  'b.jsonl': pairs(3, 'b')
    .map((r) => JSON.stringify(r))
    .join('\n'),
  'c.csv': 'instruction,input,output\nsum,"1, 2",3\nhello,,hi\n',
  'p.parquet': writeParquet([
    { name: 'q', values: ['q0', 'q1'] },
    { name: 'r', values: ['r0', 'r1'] },
  ]),
  'parts/0.txt': 'one\ntwo\n',
  'parts/1.txt': 'three\n',
  'chat.json': [
    {
      conversations: [
        { from: 'human', value: 'h' },
        { from: 'gpt', value: 'g' },
      ],
    },
  ],
  'broken.json': [
    {
      conversations: [
        { from: 'human', value: 'ok' },
        { from: 'gpt', value: 'fine' },
      ],
    },
    {
      conversations: [
        { from: 'gpt', value: 'starts with the answer' },
        { from: 'human', value: 'x' },
      ],
    },
    { conversations: [{ from: 'human', value: 'no answer' }] },
    {
      conversations: [
        { from: 'human', value: 'ok 2' },
        { from: 'gpt', value: 'fine 2' },
      ],
    },
  ],
  'noresp.json': [{ instruction: 'has none' }, { instruction: 'has one', output: 'yes' }],
  'rank.json': [{ instruction: 'i', c: 'good', r: 'bad' }],
  'kto.json': [{ instruction: 'i', output: 'o', label: true }],
  'scripted/loader.py': 'print(1)',
  'splits/train.jsonl': '{"instruction": "t", "output": "t"}\n',
  'splits/validation.jsonl': '{"instruction": "v", "output": "v"}\n',
});

const args = (over: DatasetArgs): DatasetArgs => ({ dataset_dir: dir, ...over });

test('the bundled examples load for every stage', async () => {
  const sft = await getDataset(
    { dataset: 'identity,alpaca_en_demo,alpaca_zh_demo,sharegpt_multiturn_demo,openai_demo', dataset_dir: EXAMPLES },
    'sft',
    quiet,
  );
  assert.equal(sft.train_dataset?.length, 20 + 30 + 30 + 20 + 10);
  assert.equal(sft.report.issues.length, 0);
  assert.match(sft.train_dataset?.[0]?._response[0]?.content ?? '', /\{\{name\}\}.*\{\{author\}\}/);
  const dpo = await getDataset({ dataset: 'preference_demo', dataset_dir: EXAMPLES }, 'dpo', quiet);
  assert.equal(dpo.train_dataset?.[0]?._response.length, 2);
  const kto = await getDataset({ dataset: 'kto_demo', dataset_dir: EXAMPLES }, 'kto', quiet);
  assert.equal(kto.train_dataset?.length, 20);
  const pt = await getDataset({ dataset: 'pretrain_demo', dataset_dir: EXAMPLES }, 'pt', quiet);
  assert.equal(pt.train_dataset?.length, 10);
  assert.deepEqual(pt.train_dataset?.[0]?._response, []);
});

test('every file type through dataset_info.json: json, jsonl, csv, parquet, a folder of txt', async () => {
  const m = await getDataset(args({ dataset: 'a,b,csv,pq' }), 'sft', quiet);
  const prompts = m.train_dataset?.map((e) => e._prompt[0]?.content);
  assert.deepEqual(prompts, ['a0', 'a1', 'a2', 'a3', 'a4', 'b0', 'b1', 'b2', 'sum\n1, 2', 'hello', 'q0', 'q1']);
  const pt = await getDataset(args({ dataset: 'folder' }), 'pt', quiet);
  assert.deepEqual(
    pt.train_dataset?.map((e) => e._prompt[0]?.content),
    ['one', 'two', 'three'],
  );
});

test('invalid records are reported with file, index, field and rule, dropped, and summarised', async () => {
  const logs: string[] = [];
  const m = await getDataset(args({ dataset: 'broken' }), 'sft', { log: (s) => logs.push(s) });
  assert.deepEqual(
    m.train_dataset?.map((e) => e._response[0]?.content),
    ['fine', 'fine 2'],
  );
  const file = join(dir, 'broken.json');
  assert.deepEqual(
    m.report.issues.map((i) => [i.file, i.index, i.field]),
    [
      [file, 1, 'conversations[0].from'],
      [file, 2, 'conversations'],
    ],
  );
  assert.match(m.report.issues[0]?.rule ?? '', /turn 1 must be "human" or "observation"/);
  assert.equal(m.report.dropped.get('broken'), 2);
  assert.equal(logs.length, 1);
  assert.match(logs[0] ?? '', /broken\.json record 1 \(dataset "broken"\), field conversations\[0\]\.from: turn 1/);
  assert.match(logs[0] ?? '', /dropped 2 invalid record\(s\) from dataset "broken"/);
});

test('stage shape: a record without a response is dropped for sft, kept for pt', async () => {
  const sft = await getDataset(args({ dataset: 'noresp' }), 'sft', quiet);
  assert.equal(sft.train_dataset?.length, 1);
  assert.match(sft.report.issues[0]?.rule ?? '', /sft needs exactly one response, got 0/);
  const pt = await getDataset(args({ dataset: 'noresp' }), 'pt', quiet);
  assert.equal(pt.train_dataset?.length, 2);
});

test('an all-invalid dataset stops with the first reason', async () => {
  const bad = tempDataDir({
    'dataset_info.json': { x: { file_name: 'x.json' } },
    'x.json': [{ instruction: 1, output: 'o' }],
  });
  await assert.rejects(getDataset({ dataset: 'x', dataset_dir: bad }, 'sft', quiet), (e: Error) => {
    assert.ok(e instanceof InvalidDatasetError);
    assert.match(
      e.message,
      /Dataset "x" has no valid record \(1 checked\)\. First problem: .*x\.json record 0.*instruction/,
    );
    return true;
  });
});

test('stage <-> ranking rules', async () => {
  await assert.rejects(getDataset(args({ dataset: 'rank' }), 'sft', quiet), /"rank" is a preference dataset/);
  await assert.rejects(getDataset(args({ dataset: 'a' }), 'dpo', quiet), /"a" is not applicable in the dpo stage/);
  await assert.rejects(getDataset(args({ dataset: 'a' }), 'rm', quiet), InvalidDatasetError);
  await assert.rejects(getDataset(args({ dataset: 'a' }), 'kto', quiet), /no kto_tag column/);
  assert.equal((await getDataset(args({ dataset: 'rank' }), 'rm', quiet)).train_dataset?.length, 1);
  assert.equal((await getDataset(args({ dataset: 'kto' }), 'kto', quiet)).train_dataset?.length, 1);
});

test('mix_strategy and interleave_probs through getDataset', async () => {
  const under = await getDataset(args({ dataset: 'a,b', mix_strategy: 'interleave_under' }), 'sft', quiet);
  assert.deepEqual(
    under.train_dataset?.map((e) => e._prompt[0]?.content),
    ['a0', 'b0', 'a1', 'b1', 'a2', 'b2'],
  );
  const over = await getDataset(
    args({ dataset: 'a,b', mix_strategy: 'interleave_over', interleave_probs: '0.5, 0.5', seed: 7 }),
    'sft',
    quiet,
  );
  const got = over.train_dataset?.map((e) => e._prompt[0]?.content) ?? [];
  for (const x of ['a0', 'a1', 'a2', 'a3', 'a4', 'b0', 'b1', 'b2']) assert.ok(got.includes(x), x);
});

test('val_size (fraction and count), eval_dataset, num_samples and max_samples', async () => {
  const frac = await getDataset(args({ dataset: 'a,b', val_size: 0.25 }), 'sft', quiet);
  assert.deepEqual([frac.train_dataset?.length, frac.eval_dataset?.length], [6, 2]);
  const count = await getDataset(args({ dataset: 'a,b', val_size: 3 }), 'sft', quiet);
  assert.deepEqual([count.train_dataset?.length, count.eval_dataset?.length], [5, 3]);
  const again = await getDataset(args({ dataset: 'a,b', val_size: 3 }), 'sft', quiet);
  assert.deepEqual(again.eval_dataset, count.eval_dataset);
  const ev = await getDataset(args({ dataset: 'a', eval_dataset: 'b,csv' }), 'sft', quiet);
  assert.deepEqual([ev.train_dataset?.length, ev.eval_dataset?.length], [5, 5]);
  assert.deepEqual(Object.keys(ev.eval_datasets ?? {}), ['b', 'csv']);
  const sampled = await getDataset(args({ dataset: 'sampled' }), 'sft', quiet);
  assert.equal(sampled.train_dataset?.length, 12);
  const firstFive = sampled.train_dataset?.slice(0, 5).map((e) => e._prompt[0]?.content);
  assert.deepEqual([...(firstFive ?? [])].sort(), ['a0', 'a1', 'a2', 'a3', 'a4']);
  const capped = await getDataset(args({ dataset: 'a,b', max_samples: 2 }), 'sft', quiet);
  assert.deepEqual(
    capped.train_dataset?.map((e) => e._prompt[0]?.content),
    ['a0', 'a1', 'b0', 'b1'],
  );
});

test('argument checks and unknown names', async () => {
  const bad: [DatasetArgs, RegExp][] = [
    [{ dataset: 'a', val_size: 0.1, eval_dataset: 'b' }, /Cannot specify `val_size` if `eval_dataset` is given/],
    [{ dataset: 'a,b', interleave_probs: '0.5,0.5' }, /only valid for interleaved mixing/],
    [{ dataset: 'a,b', mix_strategy: 'interleave_under', interleave_probs: [1] }, /has 1 values but dataset names 2/],
    [
      { dataset: 'a,b', mix_strategy: 'interleave_under', interleave_probs: [0.7, 0.7] },
      /must be non-negative and sum to 1/,
    ],
    [{ dataset: 'a', streaming: true }, /streaming is not supported/],
    [{ dataset: 'a', mix_strategy: 'mix' as never }, /Unknown mix_strategy "mix"/],
    [{ dataset: 'a', val_size: 2.5 }, /must be a fraction in \(0, 1\) or a whole number/],
  ];
  for (const [a, re] of bad) {
    await assert.rejects(
      getDataset(args(a), 'sft', quiet),
      (e: Error) => e instanceof DatasetConfigError && re.test(e.message),
    );
  }
  await assert.rejects(getDataset(args({ dataset: 'a,nope' }), 'sft', quiet), (e: Error) => {
    assert.ok(e instanceof UnknownDatasetError);
    assert.match(e.message, /Undefined dataset "nope" in .*Defined datasets: a, b, csv, pq, folder/);
    return true;
  });
});

test('script_url folders load their split files; Python scripts and cloud files are refused clearly', async () => {
  const m = await getDataset(args({ dataset: 'script_data' }), 'sft', quiet);
  assert.deepEqual(
    m.train_dataset?.map((e) => e._prompt[0]?.content),
    ['v'],
  );
  await assert.rejects(
    getDataset(args({ dataset: 'script_py' }), 'sft', quiet),
    /Python dataset loading scripts cannot run/,
  );
  await assert.rejects(
    getDataset(args({ dataset: 'cloud' }), 'sft', quiet),
    /cloud_file_name, which lmforge cannot fetch/,
  );
});

test('hub datasets fail fast and clearly when they cannot be downloaded', async () => {
  const saved = process.env.USE_MODELSCOPE_HUB;
  try {
    for (const [env, hub] of [
      [undefined, 'the Hugging Face Hub'],
      ['1', 'ModelScope'],
    ] as const) {
      if (env === undefined) delete process.env.USE_MODELSCOPE_HUB;
      else process.env.USE_MODELSCOPE_HUB = env;
      const started = Date.now();
      await assert.rejects(
        getDataset(args({ dataset: 'hub', cache_dir: join(dir, 'hub-cache'), hub_timeout_ms: 5000 }), 'sft', quiet),
        (e: Error) => {
          assert.ok(e instanceof HubDownloadError, `${e.name}: ${e.message}`);
          assert.ok(
            e.message.includes(`Cannot download dataset "hub" (lmforge-test/no-such-dataset-7f3a) from ${hub}`),
          );
          assert.match(e.message, /Download it on a machine with network access.*"file_name"/);
          return true;
        },
      );
      assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    }
  } finally {
    if (saved === undefined) delete process.env.USE_MODELSCOPE_HUB;
    else process.env.USE_MODELSCOPE_HUB = saved;
  }
  await assert.rejects(getDataset(args({ dataset: 'om' }), 'sft', quiet), /OpenMind downloads are not supported/);
});

test('a column no record has is a mapping error that lists the keys the records do have', async () => {
  const d = tempDataDir({
    'dataset_info.json': {
      qa: { file_name: 'qa.json' },
      chat: { file_name: 'chat.json', formatting: 'sharegpt' },
    },
    'qa.json': [{ question: 'q', answer: 'a' }],
    'chat.json': [{ messages: [] }],
  });
  await assert.rejects(getDataset({ dataset: 'qa', dataset_dir: d }, 'sft', quiet), (e: Error) => {
    assert.ok(e instanceof InvalidDatasetError);
    assert.match(e.message, /no record of .*qa\.json has the column "instruction" \(columns\.prompt\)/);
    assert.match(e.message, /The records have: question, answer\. Map the right one in dataset_info\.json/);
    return true;
  });
  await assert.rejects(
    getDataset({ dataset: 'chat', dataset_dir: d }, 'sft', quiet),
    /has the column "conversations" \(columns\.messages\)\. The records have: messages\./,
  );
});
