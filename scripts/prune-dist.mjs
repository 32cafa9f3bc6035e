// Removes what dist/ holds for a source that is gone (a renamed or deleted src/ file): tsc only adds and
// overwrites, and its incremental build is what keeps `npm pack` fast, so without this a stale module would ship.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, 'dist');
const OUTPUT = /\.(js|js\.map|d\.ts)$/;

const walk = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : OUTPUT.test(e.name) ? [join(dir, e.name)] : [],
  );
if (existsSync(dist)) {
  for (const file of walk(dist)) {
    const source = join(root, 'src', relative(dist, file).replace(OUTPUT, '.ts'));
    if (!existsSync(source)) {
      rmSync(file);
      console.log(`lmforge: removed ${relative(root, file)} (its source is gone)`);
    }
  }
}
