import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const temps: string[] = [];
after(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** A package root with bin/lmforge.js and the entries asked for; each main says which one ran and exits 3. */
function fakeRoot(parts: { src?: boolean; dist?: boolean; tsx?: boolean }): string {
  const root = mkdtempSync(join(tmpdir(), 'lmforge-bin-'));
  temps.push(root);
  cpSync(join(repo, 'bin'), join(root, 'bin'), { recursive: true });
  writeFileSync(join(root, 'package.json'), '{ "type": "module" }\n');
  const main = (label: string, typed: boolean) =>
    `export async function main(args${typed ? ': string[]' : ''}) { console.log('${label} ' + args.join(' ')); return 3; }\n`;
  if (parts.src) {
    mkdirSync(join(root, 'src', 'cli'), { recursive: true });
    writeFileSync(join(root, 'src', 'cli', 'main.ts'), main('src', true));
  }
  if (parts.dist) {
    mkdirSync(join(root, 'dist', 'cli'), { recursive: true });
    writeFileSync(join(root, 'dist', 'cli', 'main.js'), main('dist', false));
  }
  if (parts.tsx) symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));
  return root;
}

function lmforge(root: string, env: Record<string, string> = {}) {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!('LMFORGE_DIST' in env)) delete e.LMFORGE_DIST;
  return spawnSync(process.execPath, [join(root, 'bin', 'lmforge.js'), 'a', 'b'], { encoding: 'utf8', env: e });
}

test('a clone runs src/ through tsx; LMFORGE_DIST=1 runs dist/ instead', () => {
  const root = fakeRoot({ src: true, dist: true, tsx: true });
  const src = lmforge(root);
  assert.equal(src.stdout, 'src a b\n', src.stderr);
  assert.equal(src.status, 3, 'main’s exit code is the process’s');
  assert.equal(lmforge(root, { LMFORGE_DIST: '1' }).stdout, 'dist a b\n');
  assert.equal(lmforge(root, { LMFORGE_DIST: '0' }).stdout, 'src a b\n');
});

test('an installed package (no src/) runs dist/ with plain Node, as does a clone without tsx', () => {
  assert.equal(lmforge(fakeRoot({ dist: true })).stdout, 'dist a b\n');
  const noTsx = lmforge(fakeRoot({ src: true, dist: true }));
  assert.equal(noTsx.stdout, 'dist a b\n', noTsx.stderr);
  assert.equal(noTsx.status, 3);
});

test('no dist/ where it is needed: one line saying to run npm run build, no stack trace', () => {
  const forced = lmforge(fakeRoot({ src: true, tsx: true }), { LMFORGE_DIST: '1' });
  assert.equal(forced.status, 1);
  assert.match(forced.stderr, /^lmforge: .*dist\/cli\/main\.js is missing; run `npm run build` in .*\n$/);
  const noTsx = lmforge(fakeRoot({ src: true }));
  assert.match(noTsx.stderr, /is missing and tsx \(a devDependency\) is not installed; run `npm run build`/);
  assert.equal(noTsx.stderr.split('\n').length, 2, 'one line');
});
