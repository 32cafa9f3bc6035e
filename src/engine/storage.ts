import type { NativeStorage } from './native.js';
import { native } from './native.js';

/**
 * A native block shared by a tensor and its reshape views. The block is freed when the last tensor that uses it is
 * disposed (or, as a safety net, when the GC collects the handle).
 */
export class Storage {
  private handleOrNull: NativeStorage | null;
  private refs = 0;

  constructor(
    readonly bytes: number,
    zero: boolean,
  ) {
    this.handleOrNull = native.alloc(bytes, zero);
  }

  get handle(): NativeStorage {
    if (this.handleOrNull === null) throw new Error('use of a disposed tensor: keep() it or return it from its scope');
    return this.handleOrNull;
  }

  get freed(): boolean {
    return this.handleOrNull === null;
  }

  /** True when more than one tensor (a tensor and its views) uses this block. */
  get shared(): boolean {
    return this.refs > 1;
  }

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs > 0 || this.handleOrNull === null) return;
    native.free(this.handleOrNull);
    this.handleOrNull = null;
  }
}

/** Bytes of native memory held by live tensors (for leak tests and memory reports). */
export function liveBytes(): number {
  return native.liveBytes();
}

/** Number of live native blocks. */
export function liveBlocks(): number {
  return native.liveBlocks();
}

/** Bytes of freed blocks kept for reuse (a step allocates the same shapes again; reuse avoids page faults). */
export function cachedBytes(): number {
  return native.cachedBytes();
}

/** Returns every cached block to the operating system. */
export function emptyCache(): void {
  native.emptyCache();
}
