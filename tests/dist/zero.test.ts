/**
 * ZeRO stage 1 over Open MPI on loopback (issue #19): 2 ranks keep half the AdamW state each and still end 3 steps
 * with one process's weights; their checkpoint holds one process's optimizer state, and resuming from it ends
 * where the uninterrupted run does.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { scope } from '../../src/engine/index.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { train } from '../../src/train/trainer.js';
import { tempDir } from '../util/tokenizers.js';
import { adapterValues, ddpConfig, maxDifference, mpiMissing, mpirunTrain, writeYaml } from './mpi-support.js';

const missing = mpiMissing();
if (missing) console.log(`# skipped: ${missing}`);
const root = tempDir('zero');
after(() => rmSync(root, { recursive: true, force: true }));
const quiet = { progress: false as const, log: () => {} };
const ZERO1 = { per_device_train_batch_size: 2, deepspeed: '{"zero_optimization": {"stage": 1}}' };

function optimizerTensors(checkpoint: string): Map<string, Float32Array> {
  const f = SafetensorsFile.open(join(checkpoint, 'optimizer.safetensors'));
  try {
    return new Map([...f.tensors.keys()].map((k) => [k, scope(() => f.load(k).toFloat32Array())]));
  } finally {
    f.close();
  }
}

test('ZeRO-1 on 2 ranks: half the optimizer state each, one process weights and checkpoint', {
  skip: missing ?? false,
}, async () => {
  const one = join(root, 'one');
  await train(ddpConfig(one, { save_steps: 2 }), quiet);
  const two = join(root, 'two');
  const r = mpirunTrain(2, writeYaml(join(root, 'two.yaml'), ddpConfig(two, { ...ZERO1, save_steps: 2 })));
  assert.equal(r.status, 0, r.stderr);
  const diff = maxDifference(adapterValues(one), adapterValues(two));
  assert.ok(diff <= 1e-6, `largest weight difference ${diff}`);
  // The checkpoint is one process's: every parameter's moments, gathered to rank 0, equal to the 1-process run's.
  const stateDiff = maxDifference(
    optimizerTensors(join(one, 'checkpoint-2')),
    optimizerTensors(join(two, 'checkpoint-2')),
  );
  assert.ok(stateDiff <= 1e-6, `largest optimizer-state difference ${stateDiff}`);
  const lines = [...r.stderr.matchAll(/rank (\d)\/2: ZeRO-1 optimizer state (\d+) bytes of (\d+)/g)];
  assert.equal(lines.length, 2, r.stderr);
  const whole = Number(lines[0]?.[3]);
  const wholeOneProcess = [...optimizerTensors(join(one, 'checkpoint-2')).values()].reduce(
    (n, a) => n + a.byteLength,
    0,
  );
  assert.equal(whole, wholeOneProcess);
  for (const m of lines) {
    const share = Number(m[2]) / whole;
    assert.ok(share > 0.4 && share < 0.6, `rank ${m[1]} keeps ${share} of the state`);
  }
});

test('resuming a ZeRO-1 run from its checkpoint ends with the uninterrupted weights', {
  skip: missing ?? false,
}, () => {
  const cfg = (out: string) => ddpConfig(out, { ...ZERO1, max_steps: 4, save_steps: 2, ddp_timeout: 60 });
  const whole = join(root, 'whole');
  const r = mpirunTrain(2, writeYaml(join(root, 'whole.yaml'), cfg(whole)));
  assert.equal(r.status, 0, r.stderr);
  const parted = join(root, 'parted');
  const yaml = writeYaml(join(root, 'parted.yaml'), cfg(parted));
  const killed = mpirunTrain(2, yaml, { LMFORGE_DDP_FAULT: '1:3:kill' });
  assert.notEqual(killed.status, 0);
  const again = mpirunTrain(2, yaml);
  assert.equal(again.status, 0, again.stderr);
  const diff = maxDifference(adapterValues(whole), adapterValues(parted));
  assert.ok(diff <= 1e-6, `largest weight difference ${diff}`);
});
