// Prints every C++ source under native/src for binding.gyp, so a new kernel file needs no build edit.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const walk = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.cc') ? [join(dir, e.name)] : [],
  );
console.log(walk('native/src').sort().join(' '));
