/**
 * The package as a user gets it: `npm pack` (prepack compiles dist/ and copies the prebuilt addon in), the tarball
 * installed into a fresh project under the temp dir from the npm cache alone, then used from plain Node and tsc.
 * node-gyp is replaced by a tripwire (LMFORGE_NODE_GYP) that records a run and fails, so any install that would
 * have compiled the addon fails here instead of quietly taking a minute.
 *
 * The app's lockfile is derived from the repo's (same dependency versions, resolved from the cache): an offline
 * install without one would need registry metadata that `npm ci` never caches.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
const work = mkdtempSync(join(tmpdir(), 'lmforge-pack-'));
const app = join(work, 'app');
const gypLog = join(work, 'node-gyp-runs.log');
const tripwire = join(work, 'node-gyp-tripwire.mjs');
let tarball = '';

after(() => rmSync(work, { recursive: true, force: true }));

/** Runs a command with the tripwire in place of node-gyp; stdout and stderr together. */
async function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LMFORGE_NODE_GYP: tripwire,
    npm_config_audit: 'false',
    npm_config_fund: 'false',
  };
  delete env.LMFORGE_REBUILD;
  delete env.LMFORGE_DIST;
  try {
    const r = await exec(cmd, args, { cwd, env, maxBuffer: 64 << 20 });
    return `${r.stdout}${r.stderr}`;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${x.stdout ?? ''}${x.stderr ?? x.message}`);
  }
}

const gypRuns = () => (existsSync(gypLog) ? readFileSync(gypLog, 'utf8').trim().split('\n').length : 0);

/** package-lock.json for a project depending on the tarball alone: the repo's lock minus its dev-only entries. */
function appLock(tarballSpec: string): object {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean } & Record<string, unknown>>;
  };
  const root = lock.packages[''] as Record<string, unknown>;
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { lmforge: tarballSpec } },
    'node_modules/lmforge': {
      version: pkg.version,
      resolved: tarballSpec,
      hasInstallScript: true,
      license: root.license,
      dependencies: root.dependencies,
      bin: root.bin,
      engines: root.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path !== '' && !entry.dev) packages[path] = entry;
  }
  return { name: 'app', lockfileVersion: 3, requires: true, packages };
}

before(async () => {
  writeFileSync(
    tripwire,
    `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(gypLog)}, process.cwd() + '\\n');\nprocess.exit(1);\n`,
  );
  await sh('npm', ['pack', '--offline', '--pack-destination', work], repo);
  const packed = readdirSync(work).filter((f) => f.endsWith('.tgz'));
  assert.deepEqual(packed, [`lmforge-${pkg.version}.tgz`]);
  tarball = join(work, packed[0] as string);

  const spec = `file:../${packed[0]}`;
  await sh('mkdir', ['-p', app], work);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { lmforge: spec } }),
  );
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(appLock(spec)));
});

test('the tarball holds dist/, the prebuilt addon and the native sources, not src/ or tests/', async () => {
  const files = (await sh('tar', ['tzf', tarball], work)).split('\n').map((f) => f.replace(/^package\//, ''));
  for (const f of [
    'dist/index.js',
    'dist/index.d.ts',
    'dist/index.js.map',
    'dist/infer/chat-worker.js',
    'dist/data/preprocess-worker.js',
    'bin/lmforge.js',
    'binding.gyp',
    'native/src/kernels/gemm.cc',
    'scripts/build-native.mjs',
    'scripts/list-native-sources.mjs',
    'prebuilds/linux-x64/lmforge.node',
    'prebuilds/linux-x64/lmforge.node.sources',
    'examples/tiny/base/model.safetensors',
    'examples/data/dataset_info.json',
  ]) {
    assert.ok(files.includes(f), `${f} is packed`);
  }
  for (const prefix of ['src/', 'tests/', 'build/', 'bench/', 'dist/.tsbuildinfo']) {
    assert.deepEqual(
      files.filter((f) => f.startsWith(prefix)),
      [],
      `nothing under ${prefix}`,
    );
  }
});

test('installed from the cache, it imports from plain Node, runs a forward and a worker, with no node-gyp', async () => {
  const install = await sh('npm', ['ci', '--offline', '--foreground-scripts'], app);
  assert.match(install, /using the prebuilt native addon prebuilds\/linux-x64\/lmforge\.node/);
  assert.equal(gypRuns(), 0, 'node-gyp never ran');
  const installed = join(app, 'node_modules', 'lmforge');
  assert.ok(existsSync(join(installed, 'build', 'Release', 'lmforge.node')), 'the prebuild became the live binary');
  assert.equal(existsSync(join(app, 'node_modules', 'tsx')), false, 'tsx is not installed for a user');

  writeFileSync(
    join(app, 'smoke.mjs'),
    `import { ChatModel, loadModel, train } from 'lmforge';
const base = new URL('./node_modules/lmforge/examples/tiny/base', import.meta.url).pathname;
if (typeof train !== 'function') throw new Error('train is not exported');
const model = await loadModel(base);
const { logits } = model.forward({ inputIds: { data: Int32Array.from([1, 2, 3, 4]), shape: [1, 4] } });
const values = Array.from(logits.toFloat32Array());
const chat = await ChatModel.load({ model_name_or_path: base, template: 'qwen', default_system: '' });
const [answer] = await chat.chat([{ role: 'user', content: 'hi' }], { maxTokens: 3, temperature: 0 });
await chat.close();
console.log(JSON.stringify({ shape: logits.shape, finite: values.every(Number.isFinite), tokens: answer.completionTokens }));
`,
  );
  const out = JSON.parse((await sh(process.execPath, ['smoke.mjs'], app)).trim().split('\n').at(-1) as string) as {
    shape: number[];
    finite: boolean;
    tokens: number;
  };
  assert.equal(out.shape.length, 3);
  assert.deepEqual(out.shape.slice(0, 2), [1, 4]);
  assert.ok((out.shape[2] as number) > 0 && out.finite, 'finite logits over the vocabulary');
  assert.ok(out.tokens > 0, 'the worker-mode ChatModel (dist/infer/chat-worker.js) generated');

  const version = await sh('npx', ['--offline', 'lmforge', '--version'], app);
  assert.equal(version.trim(), pkg.version);

  // A second install over the first (npm rebuild re-runs the install script in place) finds the addon current.
  const again = await sh('npm', ['rebuild', 'lmforge', '--offline', '--foreground-scripts'], app);
  assert.match(again, /up to date.*skipping node-gyp/);
  assert.equal(gypRuns(), 0, 'node-gyp never ran the second time either');
});

test('a .ts file importing lmforge type-checks against its .d.ts, and misuse is a type error', async () => {
  const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        strict: true,
        noEmit: true,
        // lmforge's own .d.ts files are checked too: one that names a type it cannot resolve fails here.
        skipLibCheck: false,
        typeRoots: [join(repo, 'node_modules', '@types')],
        types: ['node'],
      },
      files: ['good.ts', 'bad.ts'],
    }),
  );
  writeFileSync(
    join(app, 'good.ts'),
    `import { type CausalLM, ChatModel, loadModel, train } from 'lmforge';
export const model: Promise<CausalLM> = loadModel('examples/tiny/base');
export const chat: Promise<ChatModel> = ChatModel.load({ model_name_or_path: 'm' });
export const run: typeof train = train;
`,
  );
  // A number for the model folder: the one error proves the types are lmforge's, not \`any\`.
  writeFileSync(join(app, 'bad.ts'), `import { loadModel } from 'lmforge';\nexport const m = loadModel(42);\n`);
  const failure = await sh(process.execPath, [tsc, '-p', 'tsconfig.json'], app).then(
    () => '',
    (e: Error) => e.message,
  );
  const errors = failure.split('\n').filter((l) => /error TS\d+/.test(l));
  assert.equal(errors.length, 1, failure);
  assert.match(errors[0] as string, /^bad\.ts\(2,28\): error TS2345/);
});

test('with install scripts skipped, the prebuilt addon still loads; one that cannot load says what to run', async () => {
  const bare = join(work, 'app-ignore-scripts');
  await sh('mkdir', ['-p', bare], work);
  for (const f of ['package.json', 'package-lock.json']) writeFileSync(join(bare, f), readFileSync(join(app, f)));
  await sh('npm', ['ci', '--offline', '--ignore-scripts'], bare);
  const installed = join(bare, 'node_modules', 'lmforge');
  assert.equal(existsSync(join(installed, 'build')), false, 'no install script ran');
  const forward = `import { loadModel } from 'lmforge';
const model = await loadModel('node_modules/lmforge/examples/tiny/base');
const { logits } = model.forward({ inputIds: { data: Int32Array.from([1, 2]), shape: [1, 2] } });
console.log(logits.shape.join('x'));
`;
  writeFileSync(join(bare, 'forward.mjs'), forward);
  assert.match(await sh(process.execPath, ['forward.mjs'], bare), /^1x2x\d+\n$/);

  writeFileSync(join(installed, 'prebuilds', 'linux-x64', 'lmforge.node'), 'not an ELF file');
  // env is for broken setups: it still prints, with the addon row saying what to run.
  const env = await sh('npx', ['--offline', 'lmforge', 'env'], bare);
  assert.match(
    env,
    /native addon: not loaded: lmforge's prebuilt native engine .*lmforge\.node does not load here \(.+\)\. Build/,
  );
  assert.match(env, /`npm rebuild lmforge`/);
  // A command that needs the engine stops with that message as one line.
  const chat = await sh(
    'npx',
    ['--offline', 'lmforge', 'chat', '--model_name_or_path', 'node_modules/lmforge/examples/tiny/base'],
    bare,
  ).then(
    () => assert.fail('lmforge chat ran without an engine'),
    (e: Error) => e.message,
  );
  assert.match(chat, /lmforge chat: lmforge's prebuilt native engine .*does not load here .*`npm rebuild lmforge`/s);
  assert.doesNotMatch(chat, /\n\s+at /, 'no stack trace');
});
