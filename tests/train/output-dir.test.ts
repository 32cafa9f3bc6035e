/**
 * What a run does with an output_dir that already holds something: overwrite_output_dir starts it over (an earlier
 * run's checkpoints are never resumed by a later run), a kill's half-written temporaries are removed, a run with
 * zero steps refuses instead of replacing a trained adapter, and results are strict JSON.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { listCheckpoints, removeStaleTemporaries } from '../../src/train/checkpoints.js';
import { saveMetrics } from '../../src/train/results.js';
import { train } from '../../src/train/trainer.js';
import { SFT_DEMO, TINY_LORA_RUN, tinySftModelDir } from '../util/tiny-sft.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('lmforge-outdir-');
after(() => rmSync(root, { recursive: true, force: true }));
const modelDir = tinySftModelDir();
const common = {
  ...SFT_DEMO,
  model_name_or_path: modelDir,
  ...TINY_LORA_RUN,
  save_steps: 2,
  logging_steps: 2,
  report_to: 'none',
};

test('overwrite_output_dir removes the earlier run checkpoints, so a later run cannot resume them', async () => {
  const out = join(root, 'overwrite');
  await train({ ...common, output_dir: out, overwrite_output_dir: true }, { progress: false, log: () => {} });
  assert.deepEqual(
    listCheckpoints(out).map((c) => c.step),
    [2, 4],
  );
  // A second, different run into the same folder with overwrite on: the old checkpoints go before it starts.
  const lines: string[] = [];
  await train(
    { ...common, output_dir: out, overwrite_output_dir: true, max_steps: 3, save_steps: 100, learning_rate: 1e-3 },
    { progress: false, log: (m: string) => lines.push(m) },
  );
  assert.ok(
    lines.some((l) => l.includes('removed 2 old checkpoint(s)')),
    lines.join('\n'),
  );
  assert.deepEqual(listCheckpoints(out), [], 'nothing of the first run is left to resume');
});

test('a kill leaves .tmp-<pid> folders: the next run removes those whose writer is gone', () => {
  const out = join(root, 'stale');
  mkdirSync(join(out, 'checkpoint-4.tmp-999999999'), { recursive: true });
  writeFileSync(join(out, `trainer_log.jsonl.tmp-${process.pid}`), 'live writer');
  const removed = removeStaleTemporaries(out);
  assert.deepEqual(removed, [join(out, 'checkpoint-4.tmp-999999999')]);
  assert.ok(existsSync(join(out, `trainer_log.jsonl.tmp-${process.pid}`)), "a running writer's temporary stays");
});

test('zero optimization steps is an error, not an untrained adapter written over a trained one', async () => {
  const out = join(root, 'zero');
  await assert.rejects(
    train({ ...common, output_dir: out, max_steps: 0, num_train_epochs: 0 }, { progress: false, log: () => {} }),
    /0 optimization steps: nothing would be trained/,
  );
  assert.ok(!existsSync(join(out, 'adapter_model.safetensors')));
});

test('an output_dir that is a file is refused before the model loads', async () => {
  const file = join(root, 'a-file');
  writeFileSync(file, 'x');
  await assert.rejects(
    train({ ...common, output_dir: file }, { progress: false, log: () => {} }),
    /is a file, not a folder/,
  );
});

test('results are strict JSON: a NaN metric is written as null', () => {
  const out = join(root, 'results');
  mkdirSync(out, { recursive: true });
  saveMetrics(out, 'train', { train_loss: Number.NaN, epoch: 1 });
  const parsed = JSON.parse(readFileSync(join(out, 'train_results.json'), 'utf8'));
  assert.equal(parsed.train_loss, null);
  assert.equal(parsed.epoch, 1);
});
