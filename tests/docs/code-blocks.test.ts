/**
 * Every code block of README.md and docs/*.md tagged ts/js/bash/sh/yaml is tested as a reader would use it (#23
 * item 2): ts/js blocks are type-checked (strict, as `npm run typecheck`) and run against the package (`import ...
 * from 'lmforge'`); bash/sh blocks run in a scratch folder holding a copy of examples/ (`npx lmforge` is this
 * checkout's bin); yaml blocks are read as training arguments. A block marked `<!-- test: check why -->` is not run
 * (long jobs, models the reader downloads): bash parses it and every command it would run is checked instead
 * (command-check.ts). `<!-- test: skip why -->` leaves a block untested; it must stay rare.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { parseTrainArgs } from '../../src/hparams/index.js';
import { checkCommand } from './command-check.js';
import { type CodeBlock, codeBlocks, TESTED_LANGS } from './markdown-blocks.js';

const REPO = resolve('.');
const DOC_FILES = [
  'README.md',
  ...readdirSync('docs')
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const blocks = DOC_FILES.flatMap((f) => codeBlocks(readFileSync(f, 'utf8'), f)).filter((b) => TESTED_LANGS.has(b.lang));
const TSX = fileURLToPath(import.meta.resolve('tsx/esm'));
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

// The scratch folder a reader's checkout stands for: the examples (copied: commands write caches beside data), the
// package importable by name, ESM for top-level await.
const sandbox = mkdtempSync(join(tmpdir(), 'lmforge-docs-'));
after(() => rmSync(sandbox, { recursive: true, force: true }));
cpSync(join(REPO, 'examples'), join(sandbox, 'examples'), { recursive: true });
// `lmforge` resolves to this checkout's sources (the package's exports point at dist/, which only `npm run build`
// or an install makes; tests/package/pack.test.ts covers the built package).
const shim = join(sandbox, 'node_modules', 'lmforge');
mkdirSync(shim, { recursive: true });
writeFileSync(join(shim, 'package.json'), '{ "name": "lmforge", "type": "module", "exports": "./index.ts" }\n');
writeFileSync(join(shim, 'index.ts'), `export * from ${JSON.stringify(join(REPO, 'src', 'index.ts'))};\n`);
writeFileSync(join(sandbox, 'package.json'), '{ "type": "module" }\n');

const name = (b: CodeBlock) => `${b.file}:${b.line} ${b.lang}${b.mode === 'run' ? '' : ` (${b.mode}: ${b.reason})`}`;
const isScript = (b: CodeBlock) => ['ts', 'typescript', 'js', 'javascript'].includes(b.lang);
const isShell = (b: CodeBlock) => b.lang === 'bash' || b.lang === 'sh';
const scriptFile = (b: CodeBlock) =>
  `${b.file.replace(/[/.]/g, '_')}_${b.line}.${b.lang.startsWith('t') ? 'ts' : 'js'}`;

test('markers are explained and rare; the README library and training snippets are among the blocks run', () => {
  for (const b of blocks) if (b.mode !== 'run') assert.ok(b.reason.length >= 10, `${name(b)}: say why`);
  assert.ok(blocks.filter((b) => b.mode === 'skip').length <= 1, 'skip is for what cannot even be checked');
  for (const b of blocks)
    if (b.mode === 'check') assert.ok(isShell(b), `${name(b)}: only shell blocks can be checked instead of run`);
  const run = blocks.filter((b) => b.file === 'README.md' && b.mode === 'run' && isScript(b));
  assert.ok(run.some((b) => b.code.includes('loadModel(')) && run.some((b) => b.code.includes('train(')));
});

test('ts/js blocks type-check against the package (strict)', () => {
  const scripts = blocks.filter((b) => isScript(b) && b.mode !== 'skip');
  const dir = join(sandbox, 'typecheck');
  mkdirSync(dir, { recursive: true });
  for (const b of scripts) writeFileSync(join(dir, scriptFile(b)), b.code);
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: join(REPO, 'tsconfig.json'),
      compilerOptions: {
        allowJs: true,
        checkJs: true,
        paths: { lmforge: [join(REPO, 'src', 'index.ts')] },
        typeRoots: [join(REPO, 'node_modules', '@types')],
      },
      include: ['*.ts', '*.js'],
    }),
  );
  const r = spawnSync(process.execPath, [TSC, '--noEmit', '-p', dir], { encoding: 'utf8', timeout: 300_000 });
  // tsc names the scratch file; map it back to the doc line
  const report = r.stdout.replace(
    /(\S+)_(\d+)\.[jt]s\((\d+),\d+\)/g,
    (_, f, line, at) => `${f} block at line ${line}, its line ${at}`,
  );
  assert.equal(r.status, 0, report);
});

for (const b of blocks) {
  if (b.mode === 'skip') continue;
  test(name(b), { timeout: 300_000 }, () => {
    if (isScript(b)) return runScript(b);
    if (isShell(b)) return b.mode === 'check' ? checkShell(b) : runShell(b);
    if (b.lang === 'yaml') return checkYaml(b);
  });
}

function runScript(b: CodeBlock): void {
  const file = join(sandbox, scriptFile(b));
  writeFileSync(file, b.code);
  const r = spawnSync(process.execPath, ['--import', TSX, file], { cwd: sandbox, encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, `${name(b)} failed:\n${r.stderr}`);
}

/** `npx lmforge` is this checkout's bin (what npx finds in the package); anything else is a plain command. */
const NPX_LMFORGE = `npx() { if [ "$1" = lmforge ]; then shift; node ${JSON.stringify(join(REPO, 'bin', 'lmforge.js'))} "$@"; else command npx "$@"; fi; }`;

function runShell(b: CodeBlock): void {
  const r = spawnSync('bash', ['-euo', 'pipefail', '-c', `${NPX_LMFORGE}\n${b.code}`], {
    cwd: sandbox,
    encoding: 'utf8',
    timeout: 240_000,
  });
  assert.equal(r.status, 0, `${name(b)} failed:\n${r.stdout}\n${r.stderr}`);
}

/**
 * bash reads the block (syntax, quoting, continuations) with npx/npm/curl standing in as recorders, so every
 * command's words come out as bash would pass them; each is then checked by command-check.ts.
 */
function checkShell(b: CodeBlock): void {
  const syntax = spawnSync('bash', ['-n'], { input: b.code, encoding: 'utf8' });
  assert.equal(syntax.status, 0, `${name(b)} does not parse:\n${syntax.stderr}`);
  const log = join(sandbox, `calls-${b.line}`);
  const record = (cmd: string) =>
    `${cmd}() { printf '%s\\0' ${cmd} "$@" >> ${JSON.stringify(log)}; printf '\\n' >> ${JSON.stringify(log)}; }`;
  const r = spawnSync('bash', ['-eu', '-c', `${['npx', 'npm', 'curl'].map(record).join('\n')}\n${b.code}`], {
    cwd: sandbox,
    encoding: 'utf8',
    input: '',
  });
  assert.equal(r.status, 0, `${name(b)}: ${r.stderr}`);
  const calls = readFileSync(log, 'utf8')
    .split('\0\n')
    .filter((c) => c.length > 0)
    .map((c) => c.split('\0'));
  assert.ok(calls.length > 0, `${name(b)} runs no command`);
  for (const argv of calls) {
    try {
      checkCommand(argv, REPO);
    } catch (e) {
      assert.fail(`${name(b)}: ${argv.join(' ')}\n  ${(e as Error).message}`);
    }
  }
}

function checkYaml(b: CodeBlock): void {
  const values = parseYaml(b.code) as unknown;
  assert.ok(values !== null && typeof values === 'object', `${name(b)}: not a mapping`);
  parseTrainArgs(values as Record<string, unknown>);
}
