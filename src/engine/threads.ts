import { native } from './native.js';

/** Sets the native thread pool's size; n <= 0 restores the default (LMFORGE_THREADS, else the physical cores). */
export function setThreads(n: number): void {
  native.setThreads(Math.floor(n));
}

export function getThreads(): number {
  return native.getThreads();
}

export function physicalCores(): number {
  return native.physicalCores();
}

/** The instruction set the kernels dispatch to: 'avx512', 'avx2' or 'portable'. */
export function isa(): string {
  return native.isa();
}

/** Runs fn with the pool at n threads, restoring the previous size afterwards. */
export function withThreads<T>(n: number, fn: () => T): T {
  const prev = native.getThreads();
  native.setThreads(n);
  try {
    return fn();
  } finally {
    native.setThreads(prev);
  }
}
