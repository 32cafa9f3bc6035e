/**
 * Crash-safe file replacement: write `<name>.tmp-<pid>`, fsync it, rename it over the real name, fsync the folder.
 * A reader (or a crash) sees either the old file or the complete new one, never a half-written file under the
 * real name; a failed write removes its temporary file.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

/** Runs `write(fd)` on a fresh temporary file, then moves it to `path` atomically. */
export function withAtomicFile(path: string, write: (fd: number) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    write(fd);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  syncFolder(dirname(path));
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  withAtomicFile(path, (fd) => {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
  });
}

/** Makes a rename durable: the folder entry itself must reach the disk. Best effort where folders cannot be opened. */
export function syncFolder(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename has still happened.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** JSON.stringify with 2-space indent and a final newline, written atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}
