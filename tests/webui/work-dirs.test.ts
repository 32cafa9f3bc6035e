// The board's confinement (issue #15 item 5): `..`, absolute paths and symlinks out are refused; paths inside
// (existing or still to be made, through symlinks that stay inside) are allowed.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { OutsideWorkDirsError, WorkDirs } from '../../src/webui/work-dirs.js';
import { tempDir } from '../util/tokenizers.js';

function layout() {
  const root = tempDir('webui-wd');
  const work = join(root, 'work');
  const outside = join(root, 'outside');
  mkdirSync(join(work, 'models', 'm'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'x');
  symlinkSync(outside, join(work, 'out-link'));
  symlinkSync(join(work, 'models'), join(work, 'in-link'));
  symlinkSync(join(root, 'nowhere'), join(work, 'dangling'));
  return { root, work, outside, dirs: new WorkDirs([work]) };
}

test('paths inside the work dir resolve, relative or absolute, existing or not yet made', () => {
  const { work, dirs } = layout();
  assert.equal(dirs.resolve('models/m'), join(dirs.home, 'models', 'm'));
  assert.equal(dirs.resolve(join(work, 'models')), join(dirs.home, 'models'));
  assert.equal(dirs.resolve('saves/new/run'), join(dirs.home, 'saves', 'new', 'run'));
  assert.equal(dirs.resolve('in-link/m'), join(dirs.home, 'models', 'm'), 'a symlink that stays inside');
  assert.equal(dirs.resolve('.'), dirs.home);
  assert.equal(dirs.display(dirs.resolve('models/m')), join('models', 'm'));
});

test('.., absolute paths elsewhere and symlinks out are refused with the work dirs named', () => {
  const { outside, dirs } = layout();
  const cases = [
    '..',
    '../outside/secret.txt',
    'models/../../outside',
    outside,
    '/etc/passwd',
    'out-link',
    'out-link/secret.txt',
    'out-link/new-file',
    'dangling',
    'dangling/child',
    '',
  ];
  for (const path of cases) {
    assert.throws(
      () => dirs.resolve(path),
      (e: unknown) =>
        e instanceof OutsideWorkDirsError && (path === '' || /work dirs|symlink to nothing/.test(e.message)),
      JSON.stringify(path),
    );
  }
});

test('several work dirs: a path inside any of them is allowed, relative ones read against the first', () => {
  const { root, work } = layout();
  const second = join(root, 'second');
  mkdirSync(second);
  const dirs = new WorkDirs([work, second]);
  assert.equal(dirs.resolve(second), dirs.roots[1]);
  assert.throws(() => dirs.resolve(join(root, 'outside')), OutsideWorkDirsError);
  assert.throws(() => new WorkDirs([join(root, 'missing')]), /does not exist/);
});
