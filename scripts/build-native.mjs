// Builds the native addon with node-gyp against the headers of the running Node, so no header download is needed
// (Debian's node keeps them in /usr/include/node, nvm and the official tarballs in <prefix>/include/node).
//
// It builds once: build/Release/lmforge.node.hash holds a sha256 of everything that shapes the binary (every file
// under native/, binding.gyp, the source lister, the Node ABI/arch/platform, the headers dir and the compiler
// environment); when it matches, node-gyp is skipped. LMFORGE_REBUILD=1 or `--force` builds anyway.
// A published package carries prebuilds/<platform>-<arch>/lmforge.node (scripts/make-prebuild.mjs, run by prepack)
// and the sha256 of the native sources it came from; when those match this package's sources, this Node offers
// the N-API version binding.gyp targets and the binary loads, it becomes the live binary and node-gyp never runs.
// Anything else (another glibc or libstdc++, edited sources) falls back to building from source.
// A build runs in a staging copy (build/.stage-<pid>/), and its product replaces build/Release/lmforge.node with one
// rename(2), so a process that starts lmforge meanwhile still finds the old binary. The hash is written after.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Environment variables that gyp's make generator or node-gyp read and that change the binary. */
export const BUILD_ENV = [
  'CC',
  'CXX',
  'LINK',
  'AR',
  'CC_target',
  'CXX_target',
  'LINK_target',
  'CC_host',
  'CXX_host',
  'CFLAGS',
  'CXXFLAGS',
  'CPPFLAGS',
  'LDFLAGS',
  'GYP_DEFINES',
  'npm_config_nodedir',
  'npm_config_target',
  'npm_config_arch',
  'npm_config_debug',
  'npm_config_runtime',
  'npm_config_dist_url',
];

/** Files whose contents go into the hash, as paths relative to root, sorted. */
export function hashedFiles(root) {
  const walk = (dir) =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : [],
    );
  const files = existsSync(join(root, 'native')) ? walk('native') : [];
  for (const f of ['binding.gyp', join('scripts', 'list-native-sources.mjs')]) {
    if (existsSync(join(root, f))) files.push(f);
  }
  return files.map((f) => f.split(sep).join('/')).sort();
}

/** sha256 (hex) of the native sources alone (hashedFiles): what a prebuilt binary must have been built from. */
export function sourceHash(root) {
  const h = createHash('sha256');
  for (const f of hashedFiles(root)) {
    const content = readFileSync(join(root, f));
    h.update(`${f}\0${content.length}\0`);
    h.update(content);
  }
  return h.digest('hex');
}

/** The compiler's `--version` banner, so a compiler upgrade rebuilds; empty when it cannot be run. */
function compilerVersion(env) {
  const [cmd, ...rest] = (env.CXX || 'g++').trim().split(/\s+/);
  const r = spawnSync(cmd, [...rest, '--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n')[0] : '';
}

/** The node-gyp arguments that point it at the running Node's headers. */
export function nodedirArgs() {
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) return [`--nodedir=${prefix}`];
  if (existsSync('/usr/include/node/node_api.h')) return ['--nodedir=/usr'];
  return [];
}

/** sha256 (hex) of every input that shapes build/Release/lmforge.node. */
export function buildHash(root, { env = process.env, args = nodedirArgs(), compiler = compilerVersion(env) } = {}) {
  const h = createHash('sha256');
  const field = (name, value) => h.update(`${name}\0${value}\0`);
  field('abi', `${process.versions.modules} ${process.arch} ${process.platform}`);
  field('napi', process.versions.napi ?? '');
  field('args', args.join(' '));
  field('compiler', compiler);
  // An explicit --nodedir overrides npm_config_nodedir (which npm sets from .npmrc for `npm run` but not for a
  // plain `node scripts/build-native.mjs`), so it only counts when no --nodedir is passed.
  const explicitNodedir = args.some((a) => a.startsWith('--nodedir='));
  for (const name of BUILD_ENV) {
    if (name === 'npm_config_nodedir' && explicitNodedir) continue;
    field(`env:${name}`, env[name] ?? '');
  }
  for (const f of hashedFiles(root)) {
    const content = readFileSync(join(root, f));
    field(`file:${f}`, content.length);
    h.update(content);
  }
  return h.digest('hex');
}

/** Paths of the live binary and its hash file. */
export function outputPaths(root) {
  const binary = join(root, 'build', 'Release', 'lmforge.node');
  return { binary, hashFile: `${binary}.hash` };
}

/** True when the live binary exists and was built from exactly the inputs that hash to `hash`. */
export function isCurrent(root, hash) {
  const { binary, hashFile } = outputPaths(root);
  if (!existsSync(binary) || !existsSync(hashFile)) return false;
  return readFileSync(hashFile, 'utf8').trim() === hash;
}

/** Where the prebuilt binary for a platform and arch lives, and the file naming the sources it was built from. */
export function prebuildPaths(root, platform = process.platform, arch = process.arch) {
  const binary = join(root, 'prebuilds', `${platform}-${arch}`, 'lmforge.node');
  return { binary, sourcesFile: `${binary}.sources` };
}

/** The N-API version binding.gyp compiles against (its NAPI_VERSION define); 0 when it names none. */
export function targetNapi(root) {
  const m = /NAPI_VERSION=(\d+)/.exec(readFileSync(join(root, 'binding.gyp'), 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Loads `binary` in a child Node (a bad binary may crash its loader); null when it loads, else why not. */
function loadError(binary) {
  const probe =
    'const m = { exports: {} }; process.dlopen(m, process.argv[1]);' +
    ' if (!Object.keys(m.exports).length) throw new Error("it exports nothing");';
  const r = spawnSync(process.execPath, ['-e', probe, binary], { encoding: 'utf8' });
  if (r.status === 0) return null;
  // Node prints the throwing line, a caret, then `Error: <path>: <dlopen's reason>`.
  const thrown = `${r.stderr ?? ''}`.split('\n').find((l) => /^\w*Error: /.test(l));
  return thrown?.trim() ?? `its loader exited with ${r.status ?? r.signal}`;
}

/** prebuildProblem's answer when the package carries no binary for this platform (nothing worth logging). */
export const NO_PREBUILD = 'none for this platform';

/** Null when this package's prebuilt binary can serve here, else the reason it cannot (for the log). */
export function prebuildProblem(root, { napi = process.versions.napi } = {}) {
  const { binary, sourcesFile } = prebuildPaths(root);
  if (!existsSync(binary) || !existsSync(sourcesFile)) return NO_PREBUILD;
  if (readFileSync(sourcesFile, 'utf8').trim() !== sourceHash(root)) return 'it was built from other native sources';
  const wanted = targetNapi(root);
  if (Number(napi ?? 0) < wanted) return `this Node offers N-API ${napi}, it needs ${wanted}`;
  const err = loadError(binary);
  return err ? `it does not load here (${err})` : null;
}

/** Makes the prebuilt binary the live one (copied beside it, then renamed over it) and marks it current. */
export function installPrebuild(root, hash) {
  const { binary, hashFile } = outputPaths(root);
  mkdirSync(dirname(binary), { recursive: true });
  const tmp = `${binary}.tmp-${process.pid}`;
  copyFileSync(prebuildPaths(root).binary, tmp);
  renameSync(tmp, binary);
  writeFileSync(hashFile, `${hash}\n`);
}

/** Whether the caller asked for a build regardless of the hash. */
export function forced(argv = process.argv.slice(2), env = process.env) {
  return argv.includes('--force') || (env.LMFORGE_REBUILD !== undefined && !['', '0'].includes(env.LMFORGE_REBUILD));
}

/** Moves `from` onto `to` atomically: rename(2), or (across file systems) a copy beside `to` renamed over it. */
function swapIn(from, to) {
  try {
    renameSync(from, to);
  } catch (e) {
    if (e.code !== 'EXDEV') throw e;
    const tmp = `${to}.tmp-${process.pid}`;
    copyFileSync(from, tmp);
    renameSync(tmp, to);
  }
}

/** Builds in build/.stage-<pid>/ and swaps the product in. Returns node-gyp's exit status. */
export function build(root, { gyp = process.env.LMFORGE_NODE_GYP, args = nodedirArgs() } = {}) {
  gyp ??= createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  const stage = join(root, 'build', `.stage-${process.pid}`);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  try {
    // The staging dir sits inside the project, so `require('node-addon-api')` in binding.gyp still resolves.
    cpSync(join(root, 'native'), join(stage, 'native'), { recursive: true });
    cpSync(join(root, 'binding.gyp'), join(stage, 'binding.gyp'));
    mkdirSync(join(stage, 'scripts'));
    cpSync(join(root, 'scripts', 'list-native-sources.mjs'), join(stage, 'scripts', 'list-native-sources.mjs'));
    // The hash written is of the staged copy node-gyp compiles, so an edit made meanwhile is not marked as built.
    const built = buildHash(stage, { args });
    const r = spawnSync(process.execPath, [gyp, 'rebuild', ...args, '-j', 'max'], { cwd: stage, stdio: 'inherit' });
    if (r.status !== 0) return r.status ?? 1;
    const { binary, hashFile } = outputPaths(root);
    mkdirSync(dirname(binary), { recursive: true });
    swapIn(join(stage, 'build', 'Release', 'lmforge.node'), binary);
    writeFileSync(hashFile, `${built}\n`);
    return 0;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function main() {
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const hash = buildHash(root);
  const { binary } = outputPaths(root);
  if (!forced() && isCurrent(root, hash)) {
    console.log(
      `lmforge: native addon ${relative(root, binary)} is up to date (sha256 ${hash.slice(0, 12)}), skipping node-gyp (LMFORGE_REBUILD=1 forces a build)`,
    );
    return 0;
  }
  if (!forced()) {
    const problem = prebuildProblem(root);
    const prebuilt = relative(root, prebuildPaths(root).binary);
    if (problem === null) {
      installPrebuild(root, hash);
      console.log(`lmforge: using the prebuilt native addon ${prebuilt} (it loads here), skipping node-gyp`);
      return 0;
    }
    if (problem !== NO_PREBUILD) console.log(`lmforge: not using ${prebuilt}: ${problem}; building from source`);
  }
  return build(root);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exit(main());
