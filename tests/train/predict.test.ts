/**
 * do_predict + predict_with_generate: generated_predictions.jsonl (prompt / predict / label per eval example, the
 * predictions equal to the model's own greedy generation) and predict_results.json with LLaMA-Factory's metric keys,
 * on its own (no do_train) and after training.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { getTemplate } from '../../src/data/template/index.js';
import { computeSimilarity, sampleSimilarity } from '../../src/eval/metrics.js';
import { loadModel } from '../../src/models/causal-lm.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { train } from '../../src/train/trainer.js';
import { tinyMistralDir } from '../util/tiny-model.js';
import { tempDir } from '../util/tokenizers.js';

const modelDir = tinyMistralDir(9);
const root = tempDir('predict');
const quiet = { progress: false as const, log: () => {} };
const common = {
  stage: 'sft',
  model_name_or_path: modelDir,
  eval_dataset: 'alpaca_zh_demo',
  dataset_dir: 'examples/data',
  template: 'alpaca',
  cutoff_len: 1024,
  max_samples: 5,
  do_predict: true,
  predict_with_generate: true,
  per_device_eval_batch_size: 2,
  do_sample: false,
  max_new_tokens: 6,
  overwrite_cache: true,
  report_to: 'none',
};
const METRIC_KEYS = [
  'predict_bleu-4',
  'predict_rouge-1',
  'predict_rouge-2',
  'predict_rouge-l',
  'predict_runtime',
  'predict_samples_per_second',
  'predict_steps_per_second',
];

function readRows(dir: string): { prompt: string; predict: string; label: string }[] {
  return readFileSync(join(dir, 'generated_predictions.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
}

test('predict without training: files, keys, greedy predictions and their metrics', async () => {
  const out = join(root, 'only');
  // The progress lines say what runs (predicting, not training), and the result says nothing was trained.
  const lines: string[] = [];
  const result = await train(
    { ...common, output_dir: out },
    { log: () => {}, progress: { write: (s: string) => lines.push(s), isTTY: false } },
  );
  assert.equal(result.globalStep, 0);
  assert.equal(result.trained, false);
  assert.equal(result.interrupted, false);
  assert.ok(
    lines.some((l) => l.startsWith('[predict] step')),
    lines.join(''),
  );
  assert.ok(!lines.some((l) => l.includes('[train]')), lines.join(''));
  const rows = readRows(out);
  assert.equal(rows.length, 5);
  for (const r of rows) assert.deepEqual(Object.keys(r), ['prompt', 'predict', 'label']);
  const metrics = JSON.parse(readFileSync(join(out, 'predict_results.json'), 'utf8'));
  assert.deepEqual(Object.keys(metrics).sort(), METRIC_KEYS);
  assert.deepEqual(result.predictMetrics, metrics);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'all_results.json'), 'utf8')), metrics);

  // The same predictions from the model directly, one prompt at a time (batching with left padding changes nothing).
  const tokenizer = Tokenizer.fromDir(modelDir);
  const template = getTemplate('alpaca', tokenizer, { log: () => {} });
  const model = await loadModel(modelDir);
  try {
    const examples = JSON.parse(readFileSync('examples/data/alpaca_zh_demo.json', 'utf8')).slice(0, 5);
    const preds: string[] = [];
    for (const [i, ex] of examples.entries()) {
      const user = ex.input ? `${ex.instruction}\n${ex.input}` : ex.instruction;
      const [prompt, answer] = await template.encodeOneturn(tokenizer, [
        { role: 'user', content: user },
        { role: 'assistant', content: ex.output },
      ]);
      const { tokens } = model.generateDetailed([prompt], {
        maxNewTokens: 6,
        stop: template.stopIds(tokenizer),
      });
      preds.push(tokenizer.decode(tokens[0] as number[], { skipSpecialTokens: true }));
      assert.equal(rows[i]?.prompt, tokenizer.decode(prompt));
      assert.equal(rows[i]?.predict, preds[i]);
      assert.equal(rows[i]?.label, tokenizer.decode(answer, { skipSpecialTokens: true }));
    }
    const expected = computeSimilarity(
      preds,
      rows.map((r) => r.label),
    );
    for (const [k, v] of Object.entries(expected)) assert.equal(metrics[k], v, k);
  } finally {
    model.dispose();
  }
});

test('predict after LoRA training writes the prediction files beside the adapter', async () => {
  const out = join(root, 'trained');
  await train(
    {
      ...common,
      do_train: true,
      dataset: 'alpaca_en_demo',
      max_steps: 2,
      lora_rank: 2,
      per_device_train_batch_size: 2,
      output_dir: out,
    },
    quiet,
  );
  for (const f of [
    'adapter_model.safetensors',
    'generated_predictions.jsonl',
    'predict_results.json',
    'train_results.json',
  ])
    assert.ok(existsSync(join(out, f)), f);
  assert.equal(readRows(out).length, 5);
});

function readJsonl(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
}

test('sample_scores.jsonl: per-sample scores whose means are the reported averages, plus the metrics list and a custom metric', async () => {
  const dir = tempDir('custom-metric');
  const metricFile = join(dir, 'metric.mjs');
  writeFileSync(
    metricFile,
    `export default (predictions, references, records) => ({
      mean_length: predictions.reduce((a, p) => a + p.length, 0) / predictions.length,
      references: references.length,
      prompts_seen: records.filter((r) => typeof r.prompt === 'string' && r.label === references[records.indexOf(r)]).length,
    });\n`,
  );
  const out = join(root, 'scores');
  const result = await train(
    {
      ...common,
      output_dir: out,
      metrics: 'bleu,rouge,exact_match,accuracy,f1,precision,recall',
      custom_metric: metricFile,
      eval_accumulation_steps: 2,
    },
    quiet,
  );
  const metrics = JSON.parse(readFileSync(join(out, 'predict_results.json'), 'utf8'));
  assert.deepEqual(result.predictMetrics, metrics);
  const scores = readJsonl(join(out, 'sample_scores.jsonl'));
  const rows = readRows(out);
  assert.equal(scores.length, 5);
  assert.deepEqual(
    scores.map((s) => s.index),
    [0, 1, 2, 3, 4],
  );
  for (const key of ['bleu-4', 'rouge-1', 'rouge-2', 'rouge-l', 'exact_match']) {
    const values = scores.map((s) => s[key] as number);
    const mean = values.reduce((a, v) => a + v, 0) / values.length;
    assert.ok(
      Math.abs(mean - metrics[`predict_${key}`]) < 1e-9,
      `${key}: mean ${mean} vs ${metrics[`predict_${key}`]}`,
    );
  }
  // Each sample's BLEU/ROUGE is sampleSimilarity of its own row: the same computation as the averages.
  for (const [i, r] of rows.entries()) {
    const own = sampleSimilarity(r.predict, r.label);
    for (const k of ['bleu-4', 'rouge-1', 'rouge-2', 'rouge-l'] as const)
      assert.equal(scores[i]![k], own[k], `${i} ${k}`);
  }
  // A random model's 6 tokens never equal the reference: exact match and accuracy are 0, and so are the F1s.
  assert.equal(metrics.predict_exact_match, 0);
  assert.equal(metrics.predict_accuracy, 0);
  for (const k of ['f1', 'precision', 'recall']) {
    assert.equal(metrics[`predict_${k}_macro`], 0, k);
    assert.equal(metrics[`predict_${k}_micro`], 0, k);
  }
  // The custom module saw every prediction, reference and record.
  const lengths = rows.map((r) => r.predict.length);
  assert.equal(metrics.predict_mean_length, lengths.reduce((a, b) => a + b, 0) / lengths.length);
  assert.equal(metrics.predict_references, 5);
  assert.equal(metrics.predict_prompts_seen, 5);
  // eval_accumulation_steps only changes when rows reach the disk, not what they are.
  assert.deepEqual(readRows(out), readRows(join(root, 'only')));
  assert.ok(!readdirSync(out).some((f) => f.includes('.tmp')), 'no temporary file left');
});

test('a custom metric that returns no number, an unknown metric or sql_execution without text2sql data fails with the file or the name; nothing is written', async () => {
  const dir = tempDir('bad-metric');
  const metricFile = join(dir, 'metric.mjs');
  writeFileSync(metricFile, 'export default () => ({ score: "high" });\n');
  const out = join(root, 'bad');
  await assert.rejects(
    train({ ...common, output_dir: out, custom_metric: metricFile }, quiet),
    (e: Error) => e.message.includes(metricFile) && e.message.includes('"score" must be a finite number'),
  );
  assert.ok(!existsSync(join(out, 'generated_predictions.jsonl')), 'nothing written on failure');
  await assert.rejects(train({ ...common, output_dir: out, metrics: 'bleu,rogue' }, quiet), /did you mean rouge/);
  await assert.rejects(
    train({ ...common, output_dir: out, metrics: 'sql_execution' }, quiet),
    /sql_execution needs a text2sql eval_dataset/,
  );
});
