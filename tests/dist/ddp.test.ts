/**
 * Data-parallel training over Open MPI on loopback (issue #19): 2 ranks of one thread each end 3 optimizer steps
 * with the weights one process gets from the same global batch; a rank that dies or hangs ends the job with a
 * message naming it, and the same command resumes from the last checkpoint.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { train } from '../../src/train/trainer.js';
import { tempDir } from '../util/tokenizers.js';
import { adapterValues, ddpConfig, maxDifference, mpiMissing, mpirunTrain, writeYaml } from './mpi-support.js';

const missing = mpiMissing();
if (missing) console.log(`# skipped: ${missing}`);
const root = tempDir('ddp');
after(() => rmSync(root, { recursive: true, force: true }));
const quiet = { progress: false as const, log: () => {} };

function lossesOf(dir: string): number[] {
  return readFileSync(join(dir, 'trainer_log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { loss?: number })
    .filter((e) => typeof e.loss === 'number')
    .map((e) => e.loss as number);
}

test('2 ranks x batch 2 end 3 steps with the weights of 1 process x batch 4', { skip: missing ?? false }, async () => {
  const one = join(root, 'one');
  await train(ddpConfig(one), quiet);
  const two = join(root, 'two');
  const r = mpirunTrain(2, writeYaml(join(root, 'two.yaml'), ddpConfig(two, { per_device_train_batch_size: 2 })));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /data-parallel over 2 ranks \(2 on this node, 1 engine threads each\)/);
  const diff = maxDifference(adapterValues(one), adapterValues(two));
  assert.ok(diff <= 1e-6, `largest weight difference ${diff}`);
  const [a, b] = [lossesOf(one), lossesOf(two)];
  assert.equal(b.length, 3);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs((a[i] as number) - (b[i] as number)) < 1e-4, `loss ${a} vs ${b}`);
  // one writer: rank 1 wrote nothing of its own (a second writer would duplicate the log lines)
  assert.equal(readFileSync(join(two, 'trainer_log.jsonl'), 'utf8').trim().split('\n').length, 3);
});

test('a killed rank ends the job naming it; the same command resumes from the last checkpoint', {
  skip: missing ?? false,
}, () => {
  const out = join(root, 'killed');
  const yaml = writeYaml(
    join(root, 'killed.yaml'),
    ddpConfig(out, { per_device_train_batch_size: 2, max_steps: 4, save_steps: 1, ddp_timeout: 60 }),
  );
  const started = Date.now();
  const r = mpirunTrain(2, yaml, { LMFORGE_DDP_FAULT: '1:3:kill' });
  assert.notEqual(r.status, 0);
  const said = `${r.stdout}\n${r.stderr}`;
  assert.match(said, /rank 1\b/, said);
  assert.ok(Date.now() - started < 60_000, 'ended well within ddp_timeout');
  assert.ok(existsSync(join(out, 'checkpoint-2', 'adapter_model.safetensors')), 'checkpoint-2 is complete');
  assert.ok(!existsSync(join(out, 'checkpoint-3')), 'no checkpoint of the step the rank died in');
  const again = mpirunTrain(2, yaml);
  assert.equal(again.status, 0, again.stderr);
  const state = JSON.parse(readFileSync(join(out, 'trainer_state.json'), 'utf8')) as { global_step: number };
  assert.equal(state.global_step, 4);
});

test('a hung rank ends the job within ddp_timeout with a message naming it', { skip: missing ?? false }, () => {
  const out = join(root, 'hung');
  const yaml = writeYaml(
    join(root, 'hung.yaml'),
    ddpConfig(out, { per_device_train_batch_size: 2, max_steps: 4, save_steps: 1, ddp_timeout: 5 }),
  );
  const started = Date.now();
  const r = mpirunTrain(2, yaml, { LMFORGE_DDP_FAULT: '1:3:hang' });
  const seconds = (Date.now() - started) / 1000;
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /rank 0\/2: rank 1 did not reach step 3's gradient sync within ddp_timeout \(5 s\)/, r.stderr);
  assert.match(r.stderr, /checkpoint-2, is complete: run the same command again to resume/);
  assert.ok(seconds < 60, `ended in ${seconds} s`);
  assert.ok(existsSync(join(out, 'checkpoint-2', 'trainer_state.json')));
});
