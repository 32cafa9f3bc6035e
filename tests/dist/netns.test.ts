/**
 * The 2-rank run across two "hosts": network namespaces joined by a veth pair (ip netns), mpirun in the first
 * starting the second's rank through a launch agent in place of ssh, all traffic over the veth's addresses. The
 * weights equal one process's, as on loopback.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { train } from '../../src/train/trainer.js';
import { tempDir } from '../util/tokenizers.js';
import { adapterValues, ddpConfig, MPIRUN, maxDifference, mpiMissing, writeYaml } from './mpi-support.js';

const tag = String(process.pid % 100000);
const [nsA, nsB] = [`lmf-a-${tag}`, `lmf-b-${tag}`];
const [vethA, vethB] = [`lmfa${tag}`, `lmfb${tag}`];
const [ipA, ipB] = ['10.213.0.1', '10.213.0.2'];

function ip(...args: string[]): { ok: boolean; err: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  return { ok: r.status === 0, err: (r.stderr ?? r.error?.message ?? '').trim() };
}

/** Builds the two namespaces; returns why it cannot (not root, no ip, no permission) or null. */
function makeHosts(): string | null {
  if (process.getuid?.() !== 0) return 'not root: ip netns needs root to make the two namespaces';
  const steps = [
    ['netns', 'add', nsA],
    ['netns', 'add', nsB],
    ['link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB],
    ['link', 'set', vethA, 'netns', nsA],
    ['link', 'set', vethB, 'netns', nsB],
    ['-n', nsA, 'addr', 'add', `${ipA}/24`, 'dev', vethA],
    ['-n', nsB, 'addr', 'add', `${ipB}/24`, 'dev', vethB],
    ['-n', nsA, 'link', 'set', vethA, 'up'],
    ['-n', nsB, 'link', 'set', vethB, 'up'],
    ['-n', nsA, 'link', 'set', 'lo', 'up'],
    ['-n', nsB, 'link', 'set', 'lo', 'up'],
  ];
  for (const s of steps) {
    const r = ip(...s);
    if (!r.ok)
      return `ip ${s.join(' ')} failed (${r.err || 'iproute2 missing?'}): this machine does not allow network namespaces`;
  }
  return null;
}

const missing = mpiMissing();
const noHosts = missing ?? makeHosts();
if (noHosts) console.log(`# skipped: ${noHosts}`);
const root = tempDir('ddp-netns');
after(() => {
  ip('netns', 'del', nsA);
  ip('netns', 'del', nsB);
  rmSync(root, { recursive: true, force: true });
});

test('2 ranks in two network namespaces over a veth pair train as one process', {
  skip: noHosts ?? false,
}, async () => {
  const one = join(root, 'one');
  await train(ddpConfig(one), { progress: false, log: () => {} });
  const two = join(root, 'two');
  const yaml = writeYaml(join(root, 'two.yaml'), ddpConfig(two, { per_device_train_batch_size: 2 }));
  const agent = resolve('tests/dist/fixtures/netns-agent.sh');
  const subnet = '10.213.0.0/24';
  const r = spawnSync(
    'ip',
    [
      ...['netns', 'exec', nsA, 'mpirun', '-np', '2', '--host', `${ipA}:1,${ipB}:1`, ...MPIRUN],
      ...[
        '--mca',
        'plm_rsh_agent',
        agent,
        '--mca',
        'btl_tcp_if_include',
        subnet,
        '--mca',
        'oob_tcp_if_include',
        subnet,
      ],
      ...['-x', 'PATH', '--wdir', process.cwd()],
      ...[process.execPath, resolve('bin/lmforge.js'), 'train', yaml],
    ],
    { encoding: 'utf8', env: { ...process.env, LMF_NETNS_MAP: `${ipB}=${nsB}` }, timeout: 240_000 },
  );
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /data-parallel over 2 ranks \(1 on this node/);
  const diff = maxDifference(adapterValues(one), adapterValues(two));
  assert.ok(diff <= 1e-6, `largest weight difference ${diff}`);
});
