/**
 * Resume that belongs to the run: a checkpoint left by a different run (other arguments, other data) is refused with
 * what differs, an explicitly named one is resumed with a warning, and the results of a resumed run cover every
 * part of it (loss over all steps, runtime summed) with no duplicate trainer_log.jsonl lines.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parsePythonJson } from '../../src/train/index.js';
import { RUN_RECORD_NAME, readRunRecord } from '../../src/train/run-record.js';
import { train } from '../../src/train/trainer.js';
import { SFT_DEMO, TINY_LORA_RUN, tinySftModelDir } from '../util/tiny-sft.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('lmforge-resume-record-');
after(() => rmSync(root, { recursive: true, force: true }));
const modelDir = tinySftModelDir();
const common = {
  ...SFT_DEMO,
  model_name_or_path: modelDir,
  ...TINY_LORA_RUN,
  max_samples: 12,
  max_steps: 6,
  save_steps: 2,
  logging_steps: 1,
  report_to: 'none',
};
const quiet = { progress: false as const, log: () => {} };

test('a checkpoint of a different run is refused with what differs and the ways out', async () => {
  const out = join(root, 'other-run');
  await train({ ...common, output_dir: out }, quiet);
  const record = readRunRecord(join(out, 'checkpoint-6'));
  assert.ok(record, `checkpoint-6 has ${RUN_RECORD_NAME}`);
  assert.equal(record.totals.steps, 6);
  assert.equal(record.fingerprint.args.learning_rate, 5e-5);
  assert.equal(record.fingerprint.args.output_dir, undefined, 'where the run writes does not identify it');

  // Same folder, another learning rate and another dataset: before, this resumed (and then reported) the first run.
  await assert.rejects(
    train({ ...common, output_dir: out, learning_rate: 1e-3, max_samples: 10 }, quiet),
    (e: Error) => {
      assert.match(e.message, /holds .*checkpoint-6 from a different run/);
      assert.match(e.message, /learning_rate: 0\.00005 in the checkpoint, 0\.001 now/);
      assert.match(e.message, /max_samples: 12 in the checkpoint, 10 now/);
      assert.match(e.message, /the training data differs after tokenization/);
      assert.match(e.message, /overwrite_output_dir: true/);
      assert.match(e.message, /choose another output_dir/);
      return true;
    },
  );
  // The same command again is this run: it is complete, nothing is redone.
  const lines: string[] = [];
  await train({ ...common, output_dir: out }, { progress: false, log: (m: string) => lines.push(m) });
  assert.ok(
    lines.some((l) => l.includes('already complete (step 6/6)')),
    lines.join('\n'),
  );
});

test('resume_from_checkpoint names a checkpoint explicitly: resumed with the differences listed', async () => {
  const out = join(root, 'explicit');
  await train({ ...common, output_dir: out, max_steps: 4 }, quiet);
  const lines: string[] = [];
  const result = await train(
    { ...common, output_dir: out, resume_from_checkpoint: join(out, 'checkpoint-2'), learning_rate: 1e-4 },
    { progress: false, log: (m: string) => lines.push(m) },
  );
  const warning = lines.find((l) => l.startsWith('warning: resuming'));
  assert.ok(warning, lines.join('\n'));
  assert.match(warning, /learning_rate: 0\.00005 in the checkpoint, 0\.0001 now/);
  assert.match(warning, /max_steps: 4 in the checkpoint, 6 now/);
  assert.equal(result.globalStep, 6);
});

test('a resumed run reports the whole run: loss over all steps, runtime summed, each step logged once', async () => {
  const whole = join(root, 'whole');
  const reference = await train({ ...common, output_dir: whole }, quiet);

  // A crash right after step 3 was logged (checkpoint-2 is the last): the next run repeats step 3.
  const parts = join(root, 'parts');
  await assert.rejects(
    train(
      { ...common, output_dir: parts },
      {
        ...quiet,
        events: {
          onLog: (entry) => {
            if (entry.step === 3 && 'loss' in entry) throw new Error('simulated crash');
          },
        },
      },
    ),
    /simulated crash/,
  );
  const resumed = await train({ ...common, output_dir: parts }, quiet);
  assert.equal(resumed.globalStep, 6);

  const results = (dir: string) =>
    parsePythonJson(readFileSync(join(dir, 'train_results.json'), 'utf8')) as Record<string, number>;
  const a = results(whole);
  const b = results(parts);
  // Same steps, same losses (resume is bit-exact); only the summation order differs.
  assert.ok(
    Math.abs((b.train_loss as number) - (a.train_loss as number)) < 1e-12,
    `${b.train_loss} vs ${a.train_loss}`,
  );
  assert.ok(Math.abs(reference.trainLoss - (a.train_loss as number)) < 1e-9);
  assert.ok((b.train_runtime as number) > 0);
  // Before: the resumed part's runtime over every sample made the throughput several times too high.
  const checkpointRuntime = readRunRecord(join(parts, 'checkpoint-2'))?.totals.runtime as number;
  assert.ok((b.train_runtime as number) > checkpointRuntime, 'the runtime includes the part before the crash');

  const steps = (dir: string) =>
    readFileSync(join(dir, 'trainer_log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { current_steps: number }).current_steps);
  assert.deepEqual(steps(parts), [1, 2, 3, 4, 5, 6], 'step 3 (logged before the crash) appears once');
  assert.deepEqual(steps(whole), steps(parts));
});
