/**
 * A cheap look at a model folder before a long run reads it: config.json parses with every required field, and
 * each safetensors file's header fits its size. A broken download then fails in a second, not after the dataset
 * was tokenized. Tensor names and shapes are checked later, when the weights load.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from './errors.js';
import { readModelConfig } from './model-config.js';
import { isGgufFile, readSourceConfig } from './model-source.js';
import { withSafetensors } from './safetensors.js';

/** The safetensors files a model folder's weights live in: the index's shards, else every *.safetensors. */
function weightFiles(dir: string): string[] {
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    let map: unknown;
    try {
      map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: unknown }).weight_map;
    } catch (e) {
      throw new FormatError(index, null, `is not valid JSON (${(e as Error).message})`);
    }
    if (typeof map !== 'object' || map === null) throw new FormatError(index, 'weight_map', 'is missing');
    return [...new Set(Object.values(map as Record<string, string>))].map((f) => join(dir, f));
  }
  return readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors'))
    .map((f) => join(dir, f));
}

/** Throws a FormatError naming the file (and field) at fault; returns quietly for a sound folder. */
export function checkModelFolder(dir: string): void {
  if (isGgufFile(dir)) {
    readSourceConfig(dir);
    return;
  }
  readModelConfig(dir);
  for (const file of weightFiles(dir)) {
    if (!existsSync(file)) throw new FormatError(file, null, 'is listed in model.safetensors.index.json but missing');
    withSafetensors(file, () => undefined);
  }
}
