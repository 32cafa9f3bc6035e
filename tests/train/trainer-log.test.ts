import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic, writeJsonAtomic } from '../../src/io/atomic.js';
import { parsePythonJson, saveMetrics, speedMetrics, TrainerLogWriter, TrainerState } from '../../src/train/index.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'lmf-log-'));

test('trainer_log.jsonl lines carry LogCallback keys, order and formats', () => {
  const dir = tmp();
  let now = 1000;
  const log = new TrainerLogWriter(dir, { clock: () => now });
  const state = new TrainerState();
  log.reset(30);
  now = 1065;
  state.global_step = 5;
  state.epoch = 0.5;
  state.logTraining(1.23456, 0.8, 5e-5);
  log.onLog(state);
  now = 1130;
  state.global_step = 10;
  state.epoch = 1;
  state.num_input_tokens_seen = 4096;
  state.log({ eval_loss: 1.5, eval_runtime: 2 });
  log.onLog(state);
  const lines = readFileSync(join(dir, 'trainer_log.jsonl'), 'utf8').split('\n');
  assert.equal(
    lines[0],
    '{"current_steps": 5, "total_steps": 30, "loss": 1.2346, "lr": 5e-05, "epoch": 0.5, "percentage": 16.67, ' +
      '"elapsed_time": "0:01:05", "remaining_time": "0:05:25"}',
  );
  assert.equal(
    lines[1],
    '{"current_steps": 10, "total_steps": 30, "eval_loss": 1.5, "epoch": 1.0, "percentage": 33.33, ' +
      '"elapsed_time": "0:02:10", "remaining_time": "0:04:20", "throughput": 31.51, "total_tokens": 4096}',
  );
  assert.equal(lines[2], '');
});

test('a new writer appends to the previous log unless overwrite_output_dir', () => {
  const dir = tmp();
  writeFileSync(join(dir, 'trainer_log.jsonl'), '{"old": 1}\n');
  const state = new TrainerState();
  const a = new TrainerLogWriter(dir, { clock: () => 0 });
  a.reset(0);
  a.onLog(state);
  const kept = readFileSync(join(dir, 'trainer_log.jsonl'), 'utf8').trim().split('\n');
  assert.equal(kept.length, 2);
  assert.match(kept[1] as string, /"percentage": 100,/);
  new TrainerLogWriter(dir, { overwrite: true });
  assert.throws(() => readFileSync(join(dir, 'trainer_log.jsonl')), /ENOENT/);
});

test('prediction progress lines every 5th batch when not training', () => {
  const dir = tmp();
  let now = 0;
  const log = new TrainerLogWriter(dir, { clock: () => now });
  log.reset(12);
  const written = [];
  for (let i = 0; i < 12; i++) {
    now += 2;
    written.push(log.onPredictionStep());
  }
  assert.deepEqual(
    written.map((w) => w?.current_steps ?? null),
    [null, null, null, null, 5, null, null, null, null, 10, null, null],
  );
  assert.equal(written[4]?.remaining_time, '0:00:14');
});

test('trainer_state.json is byte-identical to HF json.dumps(indent=2, sort_keys=True)', () => {
  const dir = tmp();
  const s = new TrainerState();
  Object.assign(s, { max_steps: 4, logging_steps: 2, num_train_epochs: 1, train_batch_size: 2, total_flos: 12345 });
  s.global_step = 2;
  s.epoch = 0.5;
  s.logTraining(2.5, 1.25, 5e-5);
  s.global_step = 4;
  s.epoch = 1;
  s.logTraining(2, 0.75, 2.5e-5);
  const text = readFileSync(s.save(dir), 'utf8');
  // Printed by CPython's json.dumps for the same TrainerState fields.
  const expected = `{
  "best_global_step": null,
  "best_metric": null,
  "best_model_checkpoint": null,
  "epoch": 1.0,
  "eval_steps": 500,
  "global_step": 4,
  "is_hyper_param_search": false,
  "is_local_process_zero": true,
  "is_world_process_zero": true,
  "log_history": [
    {
      "epoch": 0.5,
      "grad_norm": 1.25,
      "learning_rate": 5e-05,
      "loss": 2.5,
      "step": 2
    },
    {
      "epoch": 1.0,
      "grad_norm": 0.75,
      "learning_rate": 2.5e-05,
      "loss": 2.0,
      "step": 4
    }
  ],
  "logging_steps": 2,
  "max_steps": 4,
  "num_input_tokens_seen": 0,
  "num_train_epochs": 1,
  "save_steps": 500,
  "stateful_callbacks": {
    "TrainerControl": {
      "args": {
        "should_epoch_stop": false,
        "should_evaluate": false,
        "should_log": false,
        "should_save": true,
        "should_training_stop": true
      },
      "attributes": {}
    }
  },
  "total_flos": 12345.0,
  "train_batch_size": 2,
  "trial_name": null,
  "trial_params": null
}
`;
  assert.equal(text, expected);
  const back = TrainerState.load(join(dir, 'trainer_state.json'));
  assert.deepEqual(back.log_history, s.log_history);
  assert.equal(back.global_step, 4);
  assert.equal(TrainerState.resolveSteps(0.25, 10), 3);
  assert.equal(TrainerState.resolveSteps(50, 10), 50);
});

test('save_metrics writes train_results.json and merges all_results.json', () => {
  const dir = tmp();
  const train = {
    ...speedMetrics('train', 12.34564, { samples: 8, steps: 4 }),
    total_flos: 12345,
    train_loss: 2.25,
    epoch: 1,
  };
  assert.deepEqual(train, {
    train_runtime: 12.3456,
    train_samples_per_second: 0.648,
    train_steps_per_second: 0.324,
    total_flos: 12345,
    train_loss: 2.25,
    epoch: 1,
  });
  saveMetrics(dir, 'train', train);
  assert.equal(
    readFileSync(join(dir, 'train_results.json'), 'utf8'),
    '{\n    "epoch": 1.0,\n    "total_flos": 12345.0,\n    "train_loss": 2.25,\n    "train_runtime": 12.3456,\n' +
      '    "train_samples_per_second": 0.648,\n    "train_steps_per_second": 0.324\n}',
  );
  saveMetrics(dir, 'eval', { eval_loss: 1000, perplexity: Math.exp(1000), epoch: 1 });
  const all = parsePythonJson(readFileSync(join(dir, 'all_results.json'), 'utf8')) as Record<string, number>;
  assert.equal(all.train_loss, 2.25);
  assert.equal(all.eval_loss, 1000);
  assert.equal(all.perplexity, null, "an overflowing perplexity is null: strict JSON, not Python's Infinity");
  assert.match(readFileSync(join(dir, 'eval_results.json'), 'utf8'), /"perplexity": null/);
  JSON.parse(readFileSync(join(dir, 'eval_results.json'), 'utf8'));
  assert.deepEqual(speedMetrics('eval', 0, { samples: 3 }), { eval_runtime: 0 });
});

test('atomic writes leave no temporary files and replace the old content whole', () => {
  const dir = tmp();
  const path = join(dir, 'sub', 'x.json');
  writeJsonAtomic(path, { a: 1 });
  writeFileAtomic(path, 'second');
  assert.equal(readFileSync(path, 'utf8'), 'second');
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['x.json']);
});
