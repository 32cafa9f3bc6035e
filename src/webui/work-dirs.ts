/**
 * The folders the board may touch. Every path a browser sends is resolved against the first work dir, then checked
 * after symlinks are followed (the deepest part that exists is realpath'd), so `..`, absolute paths and symlinks
 * that lead out are all refused the same way.
 */
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

/** A path outside the work dirs: the board answers 403 with this message. */
export class OutsideWorkDirsError extends Error {
  readonly userFacing = true;
}

export class WorkDirs {
  /** Real (symlink-free) absolute roots. */
  readonly roots: readonly string[];

  constructor(dirs: readonly string[]) {
    if (dirs.length === 0) throw new Error('WorkDirs needs at least one folder');
    this.roots = dirs.map((d) => {
      const abs = resolve(d);
      if (!existsSync(abs)) {
        throw Object.assign(new Error(`work dir ${abs} does not exist; create it or pass another --work_dirs`), {
          userFacing: true,
        });
      }
      return realpathSync(abs);
    });
  }

  /** The first work dir: relative paths from the browser are read against it. */
  get home(): string {
    return this.roots[0] as string;
  }

  /** `path` (relative to the first work dir, or absolute) as a real absolute path inside a work dir; throws if not. */
  resolve(path: string): string {
    if (typeof path !== 'string' || path === '' || path.includes('\0')) {
      throw new OutsideWorkDirsError(`path ${JSON.stringify(path)} is empty or invalid`);
    }
    const abs = isAbsolute(path) ? resolve(path) : resolve(this.home, path);
    const real = realOfDeepestExisting(abs);
    if (!this.roots.some((root) => inside(root, real))) {
      throw new OutsideWorkDirsError(
        `${path} is outside the board's work dirs (${this.roots.join(', ')}); pick a path inside them ` +
          'or start lmforge webui with --work_dirs naming its folder',
      );
    }
    return real;
  }

  /** How the board shows a path: relative to the first work dir when inside it. */
  display(real: string): string {
    const rel = relative(this.home, real);
    return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? real : rel;
  }
}

function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** Whether a directory entry is there, a dangling symlink included (existsSync follows links). */
function present(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * realpath of the longest existing prefix, with the missing tail appended (a new output_dir does not exist yet).
 * A dangling symlink is refused: writing through it would create its target, wherever that is.
 */
function realOfDeepestExisting(abs: string): string {
  let head = abs;
  const tail: string[] = [];
  while (!present(head)) {
    const parent = dirname(head);
    if (parent === head) break;
    tail.unshift(head.slice(parent.length).replace(/^[/\\]/, ''));
    head = parent;
  }
  let real: string;
  try {
    real = realpathSync(head);
  } catch {
    throw new OutsideWorkDirsError(`${head} is a symlink to nothing; remove it or pick another path`);
  }
  return tail.length === 0 ? real : resolve(real, ...tail);
}
