#!/usr/bin/env node
// The lmforge command. In a clone (src/ is there) it runs the TypeScript sources through tsx, a devDependency, so
// edits need no build and stack traces point at the .ts files. An installed package has no src/ and runs the
// compiled dist/ with plain Node. LMFORGE_DIST=1 runs dist/ from a clone too (the package tests do).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const source = join(root, 'src', 'cli', 'main.ts');
const compiled = join(root, 'dist', 'cli', 'main.js');
const forceDist = !['', '0', undefined].includes(process.env.LMFORGE_DIST);

/** tsx's loader, or null where devDependencies were left out (`npm ci --omit=dev` in a clone). */
async function tsx() {
  try {
    return await import('tsx/esm/api');
  } catch {
    return null;
  }
}

const loader = !forceDist && existsSync(source) ? await tsx() : null;
let entry = compiled;
if (loader) {
  loader.register();
  entry = source;
} else if (!existsSync(compiled)) {
  const noTsx = !forceDist && existsSync(source) ? ' and tsx (a devDependency) is not installed' : '';
  console.error(`lmforge: ${compiled} is missing${noTsx}; run \`npm run build\` in ${root} (src/ -> dist/)`);
  process.exit(1);
} else {
  // dist/ ships source maps with the sources inlined, so errors name the .ts lines.
  process.setSourceMapsEnabled(true);
}
const { main, installCrashHandlers } = await import(pathToFileURL(entry).href);
installCrashHandlers?.(process.argv.slice(2));
process.exitCode = await main(process.argv.slice(2));
