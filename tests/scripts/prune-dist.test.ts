import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const root = mkdtempSync(join(tmpdir(), 'lmforge-prune-dist-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('prune-dist removes the outputs of deleted sources and keeps the rest', () => {
  mkdirSync(join(root, 'scripts'));
  cpSync(join(repo, 'scripts', 'prune-dist.mjs'), join(root, 'scripts', 'prune-dist.mjs'));
  mkdirSync(join(root, 'src', 'kept'), { recursive: true });
  writeFileSync(join(root, 'src', 'kept', 'a.ts'), 'export const a = 1;\n');
  const outputs = (dir: string, name: string) =>
    ['.js', '.js.map', '.d.ts'].map((e) => join(root, 'dist', dir, name + e));
  for (const dir of ['kept', 'gone']) mkdirSync(join(root, 'dist', dir), { recursive: true });
  for (const f of [...outputs('kept', 'a'), ...outputs('kept', 'b'), ...outputs('gone', 'c')]) writeFileSync(f, '');
  writeFileSync(join(root, 'dist', '.tsbuildinfo'), '{}');

  const r = spawnSync(process.execPath, [join(root, 'scripts', 'prune-dist.mjs')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(outputs('kept', 'a').every(existsSync), 'outputs of a live source stay');
  assert.ok(![...outputs('kept', 'b'), ...outputs('gone', 'c')].some(existsSync), 'outputs of deleted sources go');
  assert.ok(existsSync(join(root, 'dist', '.tsbuildinfo')), 'tsc state is not an output');
  assert.match(r.stdout, /removed dist\/gone\/c\.js \(its source is gone\)/);
});
