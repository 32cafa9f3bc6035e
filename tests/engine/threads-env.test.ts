import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { native } from '../../src/engine/index.js';

// The pool reads LMFORGE_THREADS once, when it first sizes itself: a fresh process per setting.
function threadsWith(env: string | undefined): { threads: number; stderr: string } {
  const vars: NodeJS.ProcessEnv = { ...process.env, LMFORGE_THREADS: env };
  if (env === undefined) delete vars.LMFORGE_THREADS;
  const r = spawnSync(
    process.execPath,
    ['-e', "process.stdout.write(String(require('./build/Release/lmforge.node').getThreads()))"],
    { env: vars, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return { threads: Number(r.stdout), stderr: r.stderr };
}

test('LMFORGE_THREADS sets the default pool size; an invalid value warns and falls back to the cores', () => {
  assert.equal(threadsWith('3').threads, 3);
  assert.equal(threadsWith('1').threads, 1);
  assert.equal(threadsWith(undefined).threads, native.physicalCores());
  const bad = threadsWith('lots');
  assert.equal(bad.threads, native.physicalCores());
  assert.match(bad.stderr, /ignoring LMFORGE_THREADS=lots/);
});
