import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';

/** A temp dataset_dir holding `files` (text or bytes; objects are written as JSON); removed after the tests. */
export function tempDataDir(files: Record<string, string | Uint8Array | object>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lmforge-data-'));
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(
      path,
      typeof content === 'string' || content instanceof Uint8Array ? content : JSON.stringify(content, null, 1),
    );
  }
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
