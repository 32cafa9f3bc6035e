/** `lmforge train cfg.yaml --nproc_per_node N`: the launcher's flags, mpirun's command line, and a real 2-rank run. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { mpirunArgs, splitLaunchArgs } from '../../src/dist/launch.js';
import { tempDir } from '../util/tokenizers.js';
import { ddpConfig, mpiMissing, writeYaml } from './mpi-support.js';

const missing = mpiMissing();
if (missing) console.log(`# skipped: ${missing}`);
const root = tempDir('ddp-launch');
after(() => rmSync(root, { recursive: true, force: true }));

test('torchrun flags are taken out of the train arguments in every spelling', () => {
  const { spec, rest } = splitLaunchArgs(['cfg.yaml', '--nproc_per_node', '2', 'learning_rate=1e-4', '--nnodes=1'], {});
  assert.deepEqual(rest, ['cfg.yaml', 'learning_rate=1e-4']);
  assert.deepEqual(spec, { nprocPerNode: 2, nnodes: 1, nodeRank: 0, masterAddr: null, hostfile: null });
  assert.equal(splitLaunchArgs(['cfg.yaml', 'nproc_per_node=3'], {}).spec?.nprocPerNode, 3);
  assert.equal(splitLaunchArgs(['cfg.yaml'], {}).spec, null);
  // LLaMA-Factory's variables count only with FORCE_TORCHRUN, as there
  assert.equal(splitLaunchArgs(['cfg.yaml'], { NPROC_PER_NODE: '4' }).spec, null);
  assert.equal(splitLaunchArgs(['cfg.yaml'], { NPROC_PER_NODE: '4', FORCE_TORCHRUN: '1' }).spec?.nprocPerNode, 4);
  assert.throws(() => splitLaunchArgs(['--nnodes', '2'], {}), /needs --nproc_per_node/);
  assert.throws(() => splitLaunchArgs(['--nproc_per_node', '0'], {}), /at least 1/);
  assert.throws(() => splitLaunchArgs(['--nproc_per_node', '2', '--nnodes', '2'], {}), /--hostfile FILE/);
  assert.throws(() => splitLaunchArgs(['--nproc_per_node', '2', '--nnodes', '2', '--node_rank', '2'], {}), /not below/);
});

test('mpirun runs nproc_per_node x nnodes ranks, per node from the hostfile', () => {
  const spec = { nprocPerNode: 4, nnodes: 2, nodeRank: 0, masterAddr: 'a', hostfile: 'hosts' };
  const args = mpirunArgs(spec, ['node', 'lmforge.js', 'train', 'c.yaml'], false);
  assert.deepEqual(args.slice(0, 2), ['-np', '8']);
  assert.ok(args.join(' ').includes('--hostfile hosts --map-by ppr:4:node'));
  assert.ok(!args.includes('--allow-run-as-root'));
  assert.deepEqual(args.slice(-4), ['node', 'lmforge.js', 'train', 'c.yaml']);
});

test('lmforge train cfg.yaml --nproc_per_node 2 trains on 2 ranks', { skip: missing ?? false }, () => {
  const out = join(root, 'run');
  const yaml = writeYaml(join(root, 'run.yaml'), ddpConfig(out, { per_device_train_batch_size: 2, max_steps: 2 }));
  const r = spawnSync(process.execPath, ['bin/lmforge.js', 'train', yaml, '--nproc_per_node', '2'], {
    encoding: 'utf8',
    timeout: 240_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /starting 2 ranks: mpirun -np 2/);
  assert.match(r.stderr, /data-parallel over 2 ranks/);
  assert.equal(r.stderr.match(/\[lmforge\] done: 2 steps/g)?.length, 1, 'rank 0 alone reports');
  assert.ok(existsSync(join(out, 'adapter_model.safetensors')));
});
