// Copies the live native addon into prebuilds/<platform>-<arch>/ with the sha256 of the sources it was built from,
// so a packed lmforge installs without node-gyp where that binary loads (scripts/build-native.mjs decides).
// Run by `prepack`; it builds first when build/Release/lmforge.node is not current, so a stale binary never ships.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, buildHash, isCurrent, outputPaths, prebuildPaths, sourceHash } from './build-native.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
if (!isCurrent(root, buildHash(root))) {
  const status = build(root);
  if (status !== 0) process.exit(status);
}
const { binary, sourcesFile } = prebuildPaths(root);
mkdirSync(dirname(binary), { recursive: true });
copyFileSync(outputPaths(root).binary, binary);
writeFileSync(sourcesFile, `${sourceHash(root)}\n`);
console.log(`lmforge: prebuilt native addon ${relative(root, binary)} written`);
