// Runs as children (issue #15 item 4): Start writes training_args.yaml and runs lmforge train with its output in
// running_log.txt; progress and losses come from trainer_log.jsonl; Abort is SIGINT (a checkpoint, exit 130); a
// crashing child ends only its run, with the error in the log tail; the saved arguments restore the form.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { RunManager, type RunSnapshot } from '../../src/webui/runs.js';
import { PACKAGE_ROOT } from '../../src/webui/serve.js';
import { WorkDirs } from '../../src/webui/work-dirs.js';
import { tempDir } from '../util/tokenizers.js';

const REPO = resolve('.');

function quickArgs(outputDir: string, maxSteps: number): Record<string, unknown> {
  return {
    model_name_or_path: join(REPO, 'examples/tiny/base'),
    stage: 'sft',
    do_train: true,
    finetuning_type: 'lora',
    lora_rank: 4,
    dataset: 'tiny_sft',
    dataset_dir: join(REPO, 'examples/data'),
    template: 'qwen',
    default_system: '',
    cutoff_len: 48,
    per_device_train_batch_size: 2,
    learning_rate: 3e-3,
    max_steps: maxSteps,
    logging_steps: 1,
    save_steps: 1000,
    output_dir: outputDir,
    preprocessing_num_workers: 1,
  };
}

function manager(work: string) {
  const dirs = new WorkDirs([work, REPO]);
  return new RunManager(dirs, { lmforgeBin: join(PACKAGE_ROOT, 'bin', 'lmforge.js'), pollMs: 100 });
}

test('a run finishes: training_args.yaml, running_log.txt, progress to 100%, losses; watchers see it', async () => {
  const work = tempDir('webui-run');
  const runs = manager(work);
  const seen: RunSnapshot[] = [];
  const stopA = runs.watch('saves/a', (s) => seen.push(s));
  const other: RunSnapshot[] = [];
  const stopB = runs.watch('saves/a', (s) => other.push(s));
  runs.start(quickArgs('saves/a', 3));
  assert.throws(() => runs.start(quickArgs('saves/a', 3)), /already going/);
  const end = await runs.waitFor('saves/a');
  assert.equal(end.status, 'finished', end.logTail);
  assert.equal(end.exitCode, 0);
  assert.equal(end.progress?.current_steps, 3);
  assert.equal(end.progress?.percentage, 100);
  assert.equal(end.losses.length, 3);
  const out = join(work, 'saves/a');
  const yaml = parseYaml(readFileSync(join(out, 'training_args.yaml'), 'utf8')) as Record<string, unknown>;
  assert.equal(yaml.output_dir, out, 'paths are written resolved');
  assert.equal(yaml.max_steps, 3);
  assert.match(readFileSync(join(out, 'running_log.txt'), 'utf8'), /Running training/);
  assert.ok(existsSync(join(out, 'adapter_model.safetensors')));
  await new Promise((r) => setTimeout(r, 250));
  stopA();
  stopB();
  assert.equal(seen.at(-1)?.status, 'finished');
  assert.equal(other.at(-1)?.status, 'finished', 'a second watcher sees the same run');
  assert.ok(seen.some((s) => s.status === 'running'));
  // Reopening the output dir: its saved arguments, paths as the board shows them.
  const saved = runs.savedArgs('saves/a')!;
  assert.equal(saved.output_dir, join('saves', 'a'));
  assert.equal(saved.lora_rank, 4);
  // A fresh manager (the board restarted) reads the finished run from disk.
  assert.equal(manager(work).snapshot('saves/a').status, 'finished');
});

test('Abort sends SIGINT: the child saves a checkpoint and exits 130', async () => {
  const work = tempDir('webui-abort');
  const runs = manager(work);
  runs.start(quickArgs('saves/b', 200));
  const logged = Date.now();
  while (runs.snapshot('saves/b').losses.length < 2) {
    assert.ok(Date.now() - logged < 60_000, 'the run never logged a step');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(runs.abort('saves/b'), true);
  const end = await runs.waitFor('saves/b');
  assert.equal(end.exitCode, 130, end.logTail);
  assert.equal(end.status, 'aborted');
  assert.equal(end.checkpoints.length, 1, end.logTail);
  assert.ok(existsSync(join(work, 'saves/b', end.checkpoints[0]!, 'adapter_model.safetensors')));
  assert.equal(runs.abort('saves/b'), false, 'nothing left to abort');
});

test('a crashing child ends its run as failed with the error in the log tail; the manager goes on', async () => {
  const work = tempDir('webui-crash');
  const runs = manager(work);
  runs.start({ ...quickArgs('saves/c', 2), dataset: 'no_such_dataset' });
  const end = await runs.waitFor('saves/c');
  assert.equal(end.status, 'failed');
  assert.notEqual(end.exitCode, 0);
  assert.match(end.logTail, /no_such_dataset/);
  assert.throws(() => runs.start({ ...quickArgs('saves/d', 2), output_dir: '' }), /output_dir is required/);
});
