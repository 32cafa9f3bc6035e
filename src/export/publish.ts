/**
 * Moves a finished export from its staging folder (`<export_dir>.tmp-<pid>`, beside the target) into place, so a
 * reader or a crash never sees a half-written export under the real name:
 * - a new export_dir is the staging folder renamed (one rename: all or nothing);
 * - an existing export_dir (it may hold other files) gets each file renamed over its old version (each atomic),
 *   the old index removed first and the new index moved last, then weight shards of an earlier export that this
 *   one did not write are deleted. A crash in between leaves shards without an index, which readers report as an
 *   incomplete save rather than loading a mix of two exports.
 */
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { syncFolder } from '../io/atomic.js';
import { INDEX_FILE, SINGLE_FILE } from '../io/checkpoint.js';

const SHARD_NAME = /^model-\d{5}-of-\d{5}\.safetensors$/;

export class ExportTargetError extends Error {
  readonly userFacing = true;
  override name = 'ExportTargetError';
}

/** Refuses a target that exists and is not a folder, before any work is done. */
export function checkExportTarget(exportDir: string): void {
  const dir = resolve(exportDir);
  if (existsSync(dir) && !statSync(dir).isDirectory())
    throw new ExportTargetError(`export_dir ${exportDir} exists and is not a folder: choose another export_dir`);
}

/**
 * `replacesWeights: false` (a GGUF export) only renames its files in: the safetensors of an earlier export into the
 * same folder stay, index included.
 */
export function publishExport(staging: string, exportDir: string, { replacesWeights = true } = {}): void {
  const dir = resolve(exportDir);
  checkExportTarget(dir);
  if (!existsSync(dir)) {
    renameSync(staging, dir);
    syncFolder(dirname(dir));
    return;
  }
  const files = readdirSync(staging);
  if (!replacesWeights) {
    for (const f of files) renameSync(join(staging, f), join(dir, f));
    syncFolder(dir);
    rmSync(staging, { recursive: true, force: true });
    return;
  }
  rmSync(join(dir, INDEX_FILE), { force: true });
  for (const f of files) if (f !== INDEX_FILE) renameSync(join(staging, f), join(dir, f));
  if (files.includes(INDEX_FILE)) renameSync(join(staging, INDEX_FILE), join(dir, INDEX_FILE));
  const written = new Set(files);
  for (const f of readdirSync(dir))
    if ((f === SINGLE_FILE || SHARD_NAME.test(f)) && !written.has(f)) rmSync(join(dir, f), { force: true });
  syncFolder(dir);
  rmSync(staging, { recursive: true, force: true });
}
