/**
 * do_predict's decoding: a family with paged attention goes through the continuous-batching scheduler with the
 * same greedy predictions whatever the batch size (tests/train/predict.test.ts checks them against generate() one
 * prompt at a time); sampled predictions are reproducible per seed; Gemma 2 (soft-capped scores, local windows)
 * goes through the scheduler too and predicts what generate() does.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { getTemplate } from '../../src/data/template/index.js';
import { loadModel } from '../../src/models/causal-lm.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { train } from '../../src/train/trainer.js';
import { TINY_GEMMA2_KEYS } from '../util/tiny-config.js';
import { tinyMistralDir } from '../util/tiny-model.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('predict-scheduled');
const common = {
  stage: 'sft',
  eval_dataset: 'alpaca_zh_demo',
  dataset_dir: 'examples/data',
  template: 'alpaca',
  cutoff_len: 1024,
  max_samples: 5,
  do_predict: true,
  predict_with_generate: true,
  do_sample: false,
  max_new_tokens: 6,
  overwrite_cache: true,
  report_to: 'none',
};

async function predictions(args: Record<string, unknown>, name: string): Promise<{ rows: string[]; log: string[] }> {
  const out = join(root, name);
  const log: string[] = [];
  await train({ ...common, ...args, output_dir: out }, { log: (m: string) => log.push(m), progress: false });
  const rows = readFileSync(join(out, 'generated_predictions.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => (JSON.parse(l) as { predict: string }).predict);
  return { rows, log };
}

test('a Llama predicts through the scheduler: the same greedy rows for any batch size; sampling reproducible', async () => {
  const model_name_or_path = tinyMistralDir(9);
  const two = await predictions({ model_name_or_path, per_device_eval_batch_size: 2 }, 'b2');
  assert.ok(
    two.log.some((l) => l.includes('continuous-batching scheduler')),
    two.log.join('\n'),
  );
  const one = await predictions({ model_name_or_path, per_device_eval_batch_size: 1 }, 'b1');
  const four = await predictions({ model_name_or_path, per_device_eval_batch_size: 4 }, 'b4');
  assert.equal(two.rows.length, 5);
  assert.deepEqual(one.rows, two.rows);
  assert.deepEqual(four.rows, two.rows);
  const sampled = { model_name_or_path, per_device_eval_batch_size: 2, do_sample: true, temperature: 1, top_p: 1 };
  const s1 = await predictions({ ...sampled, seed: 3 }, 's1');
  const s2 = await predictions({ ...sampled, seed: 3 }, 's2');
  assert.deepEqual(s1.rows, s2.rows);
  assert.notDeepEqual(s1.rows, two.rows, 'sampling changed the answers');
});

test('Gemma 2 (soft-capped, windowed attention) predicts through the scheduler, as generate() does', async () => {
  const model_name_or_path = tinyMistralDir(11, { config: TINY_GEMMA2_KEYS });
  const { rows, log } = await predictions({ model_name_or_path, per_device_eval_batch_size: 2 }, 'gemma2');
  assert.ok(
    log.some((l) => l.includes('continuous-batching scheduler')),
    log.join('\n'),
  );
  const tokenizer = Tokenizer.fromDir(model_name_or_path);
  const template = getTemplate('alpaca', tokenizer, { log: () => {} });
  const model = await loadModel(model_name_or_path);
  try {
    const examples = JSON.parse(readFileSync('examples/data/alpaca_zh_demo.json', 'utf8')).slice(0, 5);
    for (const [i, ex] of examples.entries()) {
      const user = ex.input ? `${ex.instruction}\n${ex.input}` : ex.instruction;
      const [prompt] = await template.encodeOneturn(tokenizer, [
        { role: 'user', content: user },
        { role: 'assistant', content: ex.output },
      ]);
      const { tokens } = model.generateDetailed([prompt], { maxNewTokens: 6, stop: template.stopIds(tokenizer) });
      assert.equal(rows[i], tokenizer.decode(tokens[0] as number[], { skipSpecialTokens: true }), `example ${i}`);
    }
  } finally {
    model.dispose();
  }
});
