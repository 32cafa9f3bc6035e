/**
 * board_run.json in a run's folder: which process runs it and how it ended, so that a second board process on the
 * same work dir (or the same board after a restart) sees a run it did not start — running while that pid lives,
 * then its exit — and can abort it by pid. The board that started the child writes it at start and at exit.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';

export const BOARD_RUN_NAME = 'board_run.json';

/** `train`: lmforge train (training and/or do_predict); `eval`: lmforge eval (MMLU-style benchmarks). */
export type RunKind = 'train' | 'eval';

export interface BoardRunFile {
  kind: RunKind;
  /** The `lmforge` child's pid. */
  pid: number;
  started_at: string;
  status: 'running' | 'finished' | 'aborted' | 'failed';
  exit_code: number | null;
}

export function writeBoardRun(runDir: string, record: BoardRunFile): void {
  writeJsonAtomic(join(runDir, BOARD_RUN_NAME), record);
}

/** The record in `runDir`, or null when there is none or it is unreadable (a run started outside the board). */
export function readBoardRun(runDir: string): BoardRunFile | null {
  const path = join(runDir, BOARD_RUN_NAME);
  if (!existsSync(path)) return null;
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as BoardRunFile;
    return typeof r.pid === 'number' && typeof r.status === 'string' ? r : null;
  } catch {
    return null;
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
