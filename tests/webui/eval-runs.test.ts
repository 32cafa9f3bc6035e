// The Evaluate & Predict tab's runs (issue #15 item 3) and runs shared between boards (item 4): a do_predict run
// and an `lmforge eval` run as children with progress from their log lines and results read back from their files;
// a second board process on the same work dir sees a run the first started, through board_run.json, and aborts it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { BOARD_RUN_NAME, readBoardRun } from '../../src/webui/board-run-file.js';
import { readEvalResults, readPredictResults } from '../../src/webui/eval-results.js';
import { progressFromLog, RunManager } from '../../src/webui/runs.js';
import { PACKAGE_ROOT, startBoard } from '../../src/webui/serve.js';
import { WorkDirs } from '../../src/webui/work-dirs.js';
import { tempDir } from '../util/tokenizers.js';

const REPO = resolve('.');
const TINY = join(REPO, 'examples/tiny/base');

function manager(work: string) {
  return new RunManager(new WorkDirs([work, REPO]), {
    lmforgeBin: join(PACKAGE_ROOT, 'bin', 'lmforge.js'),
    pollMs: 100,
  });
}

function trainArgs(outputDir: string, maxSteps: number): Record<string, unknown> {
  return {
    model_name_or_path: TINY,
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
  };
}

test('progress of a run without trainer_log.jsonl comes from its plain progress lines', () => {
  assert.deepEqual(
    progressFromLog(
      '[lmforge] ***** Running prediction *****\n[predict] step 3/5 (60.00%) | 1.2it/s | elapsed 0:00:03 | remaining 0:00:02\nx',
    ),
    { current_steps: 3, total_steps: 5, percentage: 60, elapsed_time: '0:00:03', remaining_time: '0:00:02' },
  );
  assert.deepEqual(progressFromLog('[lmforge] note: x\n[lmforge] 1/3 astronomy\n'), {
    current_steps: 1,
    total_steps: 3,
    percentage: 33.33,
    elapsed_time: '',
    remaining_time: '',
  });
  assert.equal(progressFromLog('[lmforge] loading\n'), null);
});

test('a do_predict run: a child lmforge train, progress to 100%, predict_results.json and each sample with its scores', async () => {
  const work = tempDir('webui-predict');
  const runs = manager(work);
  const { model_name_or_path, template, dataset_dir } = trainArgs('', 0);
  runs.start({
    model_name_or_path,
    template,
    dataset_dir,
    default_system: '',
    stage: 'sft',
    do_train: false,
    do_predict: true,
    predict_with_generate: true,
    eval_dataset: 'tiny_sft',
    max_samples: 4,
    per_device_eval_batch_size: 2,
    max_new_tokens: 6,
    do_sample: false,
    metrics: 'bleu,rouge,exact_match',
    output_dir: 'saves/predict',
  });
  const end = await runs.waitFor('saves/predict');
  assert.equal(end.status, 'finished', end.logTail);
  assert.equal(end.kind, 'train');
  assert.deepEqual(
    [end.progress?.current_steps, end.progress?.total_steps, end.progress?.percentage],
    [2, 2, 100],
    end.logTail,
  );
  const out = join(work, 'saves/predict');
  const r = readPredictResults(out);
  assert.equal(r.total, 4);
  assert.equal(r.rows.length, 4);
  assert.deepEqual(r.metrics, JSON.parse(readFileSync(join(out, 'predict_results.json'), 'utf8')));
  assert.ok(r.metrics && 'predict_bleu-4' in r.metrics && 'predict_exact_match' in r.metrics);
  const mean = r.rows.reduce((s, row) => s + (row.scores['bleu-4'] as number), 0) / r.rows.length;
  assert.ok(Math.abs(mean - r.metrics['predict_bleu-4']!) < 1e-3, 'each row carries its own BLEU-4');
  assert.ok(r.rows.every((row) => row.prompt.length > 0 && row.label.length > 0));
  assert.equal(readPredictResults(out, 1).rows.length, 1, 'the table is capped');
  assert.deepEqual(
    [readBoardRun(out)?.status, readBoardRun(out)?.exit_code, readBoardRun(out)?.kind],
    ['finished', 0, 'train'],
  );
});

test('an lmforge eval run: eval_args.yaml, save_dir results/, per-subject progress and the accuracy table', async () => {
  const work = tempDir('webui-bench');
  const runs = manager(work);
  runs.start(
    {
      model_name_or_path: TINY,
      template: 'qwen',
      task: 'mmlu_test',
      task_dir: join(REPO, 'examples/eval'),
      lang: 'en',
      n_shot: 1,
      batch_size: 2,
      output_dir: 'saves/mmlu',
    },
    'eval',
  );
  const end = await runs.waitFor('saves/mmlu');
  assert.equal(end.status, 'finished', end.logTail);
  assert.equal(end.kind, 'eval');
  assert.deepEqual([end.progress?.current_steps, end.progress?.total_steps, end.progress?.percentage], [2, 2, 100]);
  const out = join(work, 'saves/mmlu');
  const yaml = parseYaml(readFileSync(join(out, 'eval_args.yaml'), 'utf8')) as Record<string, unknown>;
  assert.equal(yaml.save_dir, join(out, 'results'));
  assert.equal(yaml.output_dir, undefined, 'not an eval argument');
  const r = readEvalResults(out)!;
  assert.equal(r.scores[0]![0], 'Average');
  assert.deepEqual(r.subjects.map((s) => [s.subject, s.questions]).sort(), [
    ['astronomy', 3],
    ['philosophy', 2],
  ]);
  const correct = r.subjects.reduce((n, s) => n + s.correct, 0);
  assert.ok(Math.abs(r.scores[0]![1] - Number(((100 * correct) / 5).toFixed(2))) < 1e-9, 'Average over 5 questions');
  assert.throws(
    () => runs.start({ model_name_or_path: TINY, task: 'mmlu_test', output_dir: 'saves/mmlu' }, 'eval'),
    /already holds evaluation results/,
  );
});

test('a second board on the same work dir sees the first board’s run, aborts it, and stays up after a crash', async () => {
  const work = tempDir('webui-boards');
  const first = manager(work);
  const second = await startBoard({ host: '127.0.0.1', port: 0, token: null, workDirs: [work, REPO], pollMs: 100 });
  const state = async (dir: string) =>
    (await (await fetch(`${second.url}/api/train/state?output_dir=${dir}`)).json()) as {
      status: string;
      exitCode: number | null;
      losses: unknown[];
      checkpoints: string[];
      logTail: string;
    };
  try {
    first.start(trainArgs('saves/shared', 300));
    const began = Date.now();
    while ((await state('saves/shared')).losses.length < 2) {
      assert.ok(Date.now() - began < 60_000, 'the second board never saw a logged step');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await state('saves/shared')).status, 'running');
    const refused = await fetch(`${second.url}/api/train/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ args: trainArgs('saves/shared', 2) }),
    });
    assert.equal(refused.status, 400);
    assert.match(((await refused.json()) as { error: string }).error, /already going/);
    const abort = await fetch(`${second.url}/api/train/abort`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ output_dir: 'saves/shared' }),
    });
    assert.deepEqual(await abort.json(), { aborted: true });
    const end = await first.waitFor('saves/shared');
    assert.equal(end.exitCode, 130, end.logTail);
    assert.equal(end.status, 'aborted');
    const seen = await second.runs.waitFor('saves/shared');
    assert.deepEqual([seen.status, seen.exitCode], ['aborted', 130]);
    assert.equal(seen.checkpoints.length, 1, seen.logTail);

    // A crash in a run the second board started: the run fails with its error, the board answers on.
    const crash = await fetch(`${second.url}/api/train/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ args: { ...trainArgs('saves/crash', 2), dataset: 'no_such_dataset' } }),
    });
    assert.equal(crash.status, 200);
    await second.runs.waitFor('saves/crash');
    const failed = await state('saves/crash');
    assert.equal(failed.status, 'failed');
    assert.match(failed.logTail, /no_such_dataset/);
    assert.equal(first.snapshot('saves/crash').status, 'failed', 'the first board sees it too');
    assert.equal((await fetch(`${second.url}/api/info`)).status, 200);
  } finally {
    await second.close();
    await first.close();
  }
});

test('a run whose board went away without recording its exit: running while its pid lives, then by what it left', () => {
  const work = tempDir('webui-orphan');
  const dir = join(work, 'saves/orphan');
  mkdirSync(dir, { recursive: true });
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
  const record = { kind: 'train', pid: Number(gone), started_at: '', status: 'running', exit_code: null };
  writeFileSync(join(dir, BOARD_RUN_NAME), JSON.stringify(record));
  const runs = manager(work);
  assert.equal(runs.snapshot('saves/orphan').status, 'failed');
  assert.equal(runs.abort('saves/orphan'), false, 'nothing to signal');
  writeFileSync(join(dir, 'train_results.json'), '{}');
  assert.equal(runs.snapshot('saves/orphan').status, 'finished');
  writeFileSync(join(dir, BOARD_RUN_NAME), JSON.stringify({ ...record, pid: process.pid }));
  assert.equal(runs.snapshot('saves/orphan').status, 'running', 'a live pid is a running run');
  assert.ok(existsSync(join(dir, BOARD_RUN_NAME)));
});
