/**
 * CI runs the README walk-through (#23): a fresh copy of the checkout, README.md top to bottom, shortened where a
 * command is a long job (scripts/readme-walkthrough.sh says where and why). About 45 s on 2 cores.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

test('scripts/readme-walkthrough.sh: every README step holds on a fresh copy', { timeout: 360_000 }, () => {
  const r = spawnSync('bash', ['scripts/readme-walkthrough.sh'], { encoding: 'utf8', timeout: 340_000 });
  assert.equal(r.status, 0, `${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  assert.match(r.stdout, /README walk-through: every step held/);
});
