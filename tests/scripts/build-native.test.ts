import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  buildHash,
  forced,
  hashedFiles,
  isCurrent,
  NO_PREBUILD,
  outputPaths,
  prebuildPaths,
  prebuildProblem,
  sourceHash,
  targetNapi,
} from '../../scripts/build-native.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const temps: string[] = [];
after(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** A throwaway project: binding.gyp, native/src/a.cc and the two build scripts, plus a fake node-gyp. */
function fakeProject(): { root: string; gyp: string; log: string } {
  const root = mkdtempSync(join(tmpdir(), 'lmforge-build-native-'));
  temps.push(root);
  mkdirSync(join(root, 'native', 'src'), { recursive: true });
  writeFileSync(join(root, 'native', 'src', 'a.cc'), 'int a() { return 1; }\n');
  writeFileSync(join(root, 'binding.gyp'), '{ "targets": [] }\n');
  mkdirSync(join(root, 'scripts'));
  for (const f of ['build-native.mjs', 'list-native-sources.mjs']) {
    cpSync(join(repo, 'scripts', f), join(root, 'scripts', f));
  }
  // Stands in for node-gyp: records its cwd, whether the live binary was there mid-build, and writes a product
  // whose bytes are the staged a.cc, so the test can tell which sources the live binary came from.
  const gyp = join(root, 'fake-gyp.mjs');
  const log = join(root, 'gyp.log');
  writeFileSync(
    gyp,
    `import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
const live = ${JSON.stringify(join(root, 'build', 'Release', 'lmforge.node'))};
appendFileSync(${JSON.stringify(log)}, JSON.stringify({ cwd: process.cwd(), args: process.argv.slice(2), liveThere: existsSync(live) }) + '\\n');
if (process.env.FAKE_GYP_FAIL) process.exit(3);
mkdirSync('build/Release', { recursive: true });
writeFileSync('build/Release/lmforge.node', readFileSync('native/src/a.cc'));
`,
  );
  return { root, gyp, log };
}

function runScript(p: { root: string; gyp: string }, env: Record<string, string> = {}, args: string[] = []) {
  const e: Record<string, string | undefined> = { ...process.env, LMFORGE_NODE_GYP: p.gyp, ...env };
  if (!('LMFORGE_REBUILD' in env)) delete e.LMFORGE_REBUILD;
  delete e.FAKE_GYP_FAIL;
  if (env.FAKE_GYP_FAIL) e.FAKE_GYP_FAIL = env.FAKE_GYP_FAIL;
  return spawnSync(process.execPath, [join(p.root, 'scripts', 'build-native.mjs'), ...args], {
    cwd: p.root,
    env: e,
    encoding: 'utf8',
  });
}

const gypRuns = (log: string) =>
  existsSync(log)
    ? readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { cwd: string; args: string[]; liveThere: boolean })
    : [];

test('the hash covers native/, binding.gyp, the source lister, and the compiler environment', () => {
  const { root } = fakeProject();
  const opts = { env: {}, args: ['--nodedir=/usr'], compiler: 'g++ 12' };
  const h = buildHash(root, opts);
  assert.match(h, /^[0-9a-f]{64}$/);
  assert.equal(buildHash(root, opts), h, 'same inputs, same hash');
  assert.deepEqual(hashedFiles(root), ['binding.gyp', 'native/src/a.cc', 'scripts/list-native-sources.mjs']);

  writeFileSync(join(root, 'native', 'src', 'a.cc'), 'int a() { return 2; }\n');
  const h2 = buildHash(root, opts);
  assert.notEqual(h2, h, 'an edited source changes it');
  writeFileSync(join(root, 'native', 'src', 'b.h'), '#pragma once\n');
  const h3 = buildHash(root, opts);
  assert.notEqual(h3, h2, 'a new header changes it');
  writeFileSync(join(root, 'binding.gyp'), '{ "targets": [{}] }\n');
  assert.notEqual(buildHash(root, opts), h3, 'binding.gyp changes it');
  const base = buildHash(root, opts);
  assert.notEqual(buildHash(root, { ...opts, env: { CXXFLAGS: '-march=native' } }), base, 'CXXFLAGS changes it');
  assert.notEqual(buildHash(root, { ...opts, env: { CXX: 'clang++' } }), base, 'CXX changes it');
  assert.notEqual(buildHash(root, { ...opts, compiler: 'g++ 13' }), base, 'the compiler version changes it');
  assert.notEqual(buildHash(root, { ...opts, args: [] }), base, 'the headers dir changes it');
  assert.equal(buildHash(root, { ...opts, env: { HOME: '/x' } }), base, 'unrelated env does not');
  assert.equal(
    buildHash(root, { ...opts, env: { npm_config_nodedir: '/usr' } }),
    base,
    'npm_config_nodedir does not when --nodedir is passed (it wins)',
  );
  assert.notEqual(
    buildHash(root, { ...opts, args: [], env: { npm_config_nodedir: '/opt/node' } }),
    buildHash(root, { ...opts, args: [] }),
    'npm_config_nodedir does when no --nodedir is passed',
  );
});

test('forced: --force or LMFORGE_REBUILD=1, not LMFORGE_REBUILD=0', () => {
  assert.equal(forced([], {}), false);
  assert.equal(forced(['--force'], {}), true);
  assert.equal(forced([], { LMFORGE_REBUILD: '1' }), true);
  assert.equal(forced([], { LMFORGE_REBUILD: '0' }), false);
  assert.equal(forced([], { LMFORGE_REBUILD: '' }), false);
});

test('builds once in a staging dir, skips when current, rebuilds on a change or when forced', () => {
  const p = fakeProject();
  const { binary, hashFile } = outputPaths(p.root);

  const first = runScript(p);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(readFileSync(binary, 'utf8'), 'int a() { return 1; }\n');
  assert.ok(isCurrent(p.root, readFileSync(hashFile, 'utf8').trim()));
  let runs = gypRuns(p.log);
  assert.equal(runs.length, 1);
  assert.notEqual(runs[0]!.cwd, p.root, 'node-gyp runs in a staging copy, not the project');
  assert.equal(runs[0]!.args[0], 'rebuild');
  assert.equal(existsSync(runs[0]!.cwd), false, 'the staging dir is removed');

  const second = runScript(p);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /up to date.*skipping/);
  assert.equal(second.stdout.trim().split('\n').length, 1, 'one line');
  assert.equal(gypRuns(p.log).length, 1, 'node-gyp not run again');

  writeFileSync(join(p.root, 'native', 'src', 'a.cc'), 'int a() { return 2; }\n');
  assert.equal(runScript(p).status, 0);
  runs = gypRuns(p.log);
  assert.equal(runs.length, 2, 'a source edit rebuilds');
  assert.equal(runs[1]!.liveThere, true, 'the old binary stays in place while node-gyp runs');
  assert.equal(readFileSync(binary, 'utf8'), 'int a() { return 2; }\n');

  assert.equal(runScript(p, { LMFORGE_REBUILD: '1' }).status, 0);
  assert.equal(runScript(p, {}, ['--force']).status, 0);
  assert.equal(gypRuns(p.log).length, 4, 'LMFORGE_REBUILD=1 and --force build');
  assert.match(runScript(p).stdout, /up to date/);
});

test('a failed build keeps the old binary and its hash', () => {
  const p = fakeProject();
  const { binary, hashFile } = outputPaths(p.root);
  assert.equal(runScript(p).status, 0);
  const oldHash = readFileSync(hashFile, 'utf8');
  writeFileSync(join(p.root, 'native', 'src', 'a.cc'), 'broken\n');
  const r = runScript(p, { FAKE_GYP_FAIL: '1' });
  assert.notEqual(r.status, 0);
  assert.equal(readFileSync(binary, 'utf8'), 'int a() { return 1; }\n');
  assert.equal(readFileSync(hashFile, 'utf8'), oldHash);
  assert.equal(existsSync(gypRuns(p.log)[1]!.cwd), false, 'the staging dir is removed');
});

/** Puts `bytes` in the fake project as its prebuilt binary, marked as built from `sources` (default: its own). */
function addPrebuild(root: string, bytes: Buffer | string, sources = sourceHash(root)) {
  const { binary, sourcesFile } = prebuildPaths(root);
  mkdirSync(dirname(binary), { recursive: true });
  writeFileSync(binary, bytes);
  writeFileSync(sourcesFile, `${sources}\n`);
}

// A binary that really loads: the repo's own addon (the fake project's binding.gyp names no N-API version).
const realAddon = () => readFileSync(outputPaths(repo).binary);

test('a prebuilt binary that loads and matches the sources becomes the live one; node-gyp never runs', () => {
  const p = fakeProject();
  addPrebuild(p.root, realAddon());
  const first = runScript(p);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /using the prebuilt native addon prebuilds\/linux-x64\/lmforge\.node.*skipping node-gyp/);
  assert.equal(gypRuns(p.log).length, 0);
  const { binary, hashFile } = outputPaths(p.root);
  assert.deepEqual(readFileSync(binary), realAddon());
  assert.ok(isCurrent(p.root, readFileSync(hashFile, 'utf8').trim()), 'marked current');
  assert.match(runScript(p).stdout, /up to date/, 'the next install skips at once');
  assert.equal(runScript(p, { LMFORGE_REBUILD: '1' }).status, 0);
  assert.equal(gypRuns(p.log).length, 1, 'LMFORGE_REBUILD=1 builds from source even with a prebuild');
});

test('a prebuilt binary from other sources, or one that does not load, falls back to node-gyp', () => {
  const stale = fakeProject();
  addPrebuild(stale.root, realAddon(), 'f'.repeat(64));
  const r1 = runScript(stale);
  assert.equal(r1.status, 0, r1.stderr);
  assert.match(r1.stdout, /not using prebuilds\/linux-x64\/lmforge\.node: it was built from other native sources/);
  assert.equal(gypRuns(stale.log).length, 1);

  const broken = fakeProject();
  addPrebuild(broken.root, 'not an ELF file');
  const r2 = runScript(broken);
  assert.equal(r2.status, 0, r2.stderr);
  assert.match(r2.stdout, /not using .*: it does not load here \(Error: .*lmforge\.node: .+\); building from source/);
  assert.equal(gypRuns(broken.log).length, 1);
  assert.equal(readFileSync(outputPaths(broken.root).binary, 'utf8'), 'int a() { return 1; }\n', 'built from source');
});

test('prebuildProblem: a Node older than the N-API version binding.gyp targets cannot use it', () => {
  const p = fakeProject();
  writeFileSync(join(p.root, 'binding.gyp'), '{ "targets": [{ "defines": ["NAPI_VERSION=8"] }] }\n');
  addPrebuild(p.root, realAddon());
  assert.equal(targetNapi(p.root), 8);
  assert.equal(prebuildProblem(p.root, { napi: '7' }), 'this Node offers N-API 7, it needs 8');
  assert.equal(prebuildProblem(p.root, { napi: '9' }), null);
  assert.equal(prebuildProblem(fakeProject().root), NO_PREBUILD);
});
