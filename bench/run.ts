/**
 * Benchmark dispatcher: `npm run bench -- <name> [args...]` imports bench/<name>.ts and calls its exported
 * `run(args)`. A benchmark prints a table (or JSON with --json) with a peer's number measured in the same run.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (!name || !/^[\w-]+$/.test(name) || !existsSync(join(here, `${name}.ts`))) {
  console.error(`usage: npm run bench -- <name> [--json]\nbenchmarks: ${available.join(', ')}`);
  process.exit(name ? 1 : 0);
}
const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as {
  run?: (args: string[]) => unknown;
};
if (typeof mod.run !== 'function') {
  console.error(`bench/${name}.ts must export run(args: string[])`);
  process.exit(1);
}
await mod.run(args);
