// `lmforge data preview|stats` on the bundled example datasets with the real Qwen3 and Llama 3 tokenizers.
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { LENML, metaLlama3Dir, variantDir } from '../util/tokenizers.js';

const DIR = resolve('examples/data');

/** Runs the CLI in-process, capturing what it prints. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  const warn = console.warn;
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  console.warn = (...a: unknown[]) => err.push(a.join(' '));
  try {
    const code = await main(args);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
    console.warn = warn;
  }
}

test('preview marks trained spans with [[...]] off a terminal, with stop ids and token counts', async () => {
  const r = await cli([
    'data',
    'preview',
    '--dataset',
    'sharegpt_multiturn_demo',
    '--dataset_dir',
    DIR,
    '--model',
    LENML.qwen3,
    '--template',
    'qwen',
  ]);
  assert.equal(r.code, 0);
  assert.match(r.out, /stop ids: 151645 <\|im_end\|>/);
  assert.match(r.out, /legend: \[\[trained\]\] masked/);
  assert.match(r.out, /<\|im_start\|>assistant\n\[\[Start with three short sessions/);
  assert.match(r.out, /--- record 0 \(sequence\): \d+ tokens, \d+ trained\n/);
  // The Qwen 2.5 style template differs from Qwen3's own template (which adds think blocks): say so.
  assert.match(r.err, /template "qwen" disagrees with the tokenizer's own chat template on record 0/);
  const cut = await cli([
    'data',
    'preview',
    '--dataset',
    'sharegpt_multiturn_demo',
    '--dataset_dir',
    DIR,
    '--model',
    LENML.qwen3,
    '--template',
    'qwen',
    '--cutoff_len',
    '40',
    '--mask_history',
  ]);
  assert.match(cut.out, /40 tokens, \d+ trained, truncated from \d+/);
  // LLaMA-Factory's spellings, as `lmforge train` takes them, give the same preview.
  const lf = await cli([
    'data',
    'preview',
    'dataset=sharegpt_multiturn_demo',
    '--dataset_dir',
    DIR,
    '--model_name_or_path',
    LENML.qwen3,
    '--template',
    'qwen',
    '--cutoff_len',
    '40',
    '--mask_history',
    'True',
  ]);
  assert.equal(lf.code, 0, lf.err);
  assert.equal(lf.out, cut.out);
});

test('preview --json gives ids and labels; the Meta Llama 3 template agrees with the llama3 template', async () => {
  const r = await cli([
    'data',
    'preview',
    '--dataset',
    'alpaca_en_demo',
    '--dataset_dir',
    DIR,
    '--model',
    metaLlama3Dir(),
    '--template',
    'llama3',
    '--index',
    '2',
    '--count',
    '2',
    '--json',
  ]);
  assert.equal(r.code, 0);
  const rows = JSON.parse(r.out) as Array<{ index: number; input_ids: number[]; labels: number[]; text: string }>;
  assert.deepEqual(
    rows.map((x) => x.index),
    [2, 3],
  );
  for (const row of rows) {
    assert.equal(row.input_ids[0], 128000);
    assert.equal(row.labels.length, row.input_ids.length);
    assert.equal(row.labels.at(-1), 128009);
    assert.match(row.text, /^<\|begin_of_text\|><\|start_header_id\|>user<\|end_header_id\|>/);
  }
  assert.doesNotMatch(r.err, /disagrees/);
});

test('preview warns when a base tokenizer (no chat template) meets a chat template', async () => {
  const base = variantDir('llama3', (c) => {
    delete c.chat_template;
  });
  const r = await cli([
    'data',
    'preview',
    '--dataset',
    'alpaca_en_demo',
    '--dataset_dir',
    DIR,
    '--model',
    base,
    '--template',
    'llama3',
  ]);
  assert.equal(r.code, 0);
  assert.match(r.err, /no chat template \(a base model\?\) but template "llama3"/);
});

test('stats: samples, histogram, truncated and dropped counts (text and json)', async () => {
  const args = [
    'data',
    'stats',
    '--dataset',
    'alpaca_en_demo',
    '--dataset_dir',
    DIR,
    '--model',
    LENML.qwen3,
    '--template',
    'qwen',
    '--cutoff_len',
    '48',
  ];
  const text = await cli(args);
  assert.equal(text.code, 0);
  assert.match(text.out, /samples \d+, records \d+, tokens \d+ \(\d+ trained\)/);
  const json = JSON.parse((await cli([...args, '--json'])).out) as {
    samples: number;
    records: number;
    truncated: number;
    max_length: number;
    lengths: number[];
  };
  // The histogram spans the observed lengths: its first bin starts at the shortest record, its last ends at the longest.
  const bins = (text.out.split('token lengths:\n')[1] as string).trim().split('\n');
  assert.match(bins[0] as string, new RegExp(`^ *${Math.min(...json.lengths)}(-\\d+)? \\|`));
  assert.match(bins.at(-1) as string, new RegExp(`^ *(\\d+-)?${Math.max(...json.lengths)} \\|`));
  assert.equal(json.records, json.samples);
  assert.ok(json.truncated > 0);
  assert.equal(json.max_length, 48);
  assert.equal(json.lengths.length, json.records);
});

test('user errors print a message and exit 1', async () => {
  const noModel = await cli(['data', 'preview', '--dataset', 'alpaca_en_demo', '--dataset_dir', DIR]);
  assert.equal(noModel.code, 1);
  assert.match(noModel.err, /--model_name_or_path \(or --model\) is required/);
  const badName = await cli(['data', 'stats', '--dataset', 'nope', '--dataset_dir', DIR, '--model', LENML.qwen3]);
  assert.equal(badName.code, 1);
  assert.match(badName.err, /Undefined dataset "nope"/);
  const badFlag = await cli(['data', 'preview', '--bogus']);
  assert.equal(badFlag.code, 1);
  assert.match(badFlag.err, /unknown argument 'bogus'.*lmforge data -h/);
  for (const r of [noModel, badName, badFlag]) assert.doesNotMatch(r.err, /^\s+at /m);
});
