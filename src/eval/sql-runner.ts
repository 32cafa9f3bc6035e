/**
 * Runs SQL queries with a time limit. better-sqlite3 is synchronous and has no interrupt, so the queries run in a
 * child process (sql-runner-child) that is killed when one passes its limit; the next query starts a fresh child.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface SqlRequest {
  id: number;
  /** a .sqlite/.db file or a .sql script (see src/data/sqlite.ts) */
  database: string;
  sql: string;
}

export type SqlReply =
  | { id: number; ok: true; rows: number; ordered: string; unordered: string }
  | { id: number; ok: false; error: string };

export type SqlOutcome =
  | { status: 'ok'; rows: number; ordered: string; unordered: string }
  | { status: 'error'; error: string }
  | { status: 'timeout' };

export class SqlRunner {
  private child: ChildProcess | null = null;
  private nextId = 0;

  /** `timeoutMs`: the most one query may run. */
  constructor(readonly timeoutMs: number) {
    if (!(timeoutMs > 0)) throw new Error(`SqlRunner: the time limit must be positive, got ${timeoutMs} ms`);
  }

  run(database: string, sql: string): Promise<SqlOutcome> {
    const child = this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      const finish = (outcome: SqlOutcome) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(outcome);
      };
      const onMessage = (reply: SqlReply) => {
        if (reply.id !== id) return;
        finish(
          reply.ok
            ? { status: 'ok', rows: reply.rows, ordered: reply.ordered, unordered: reply.unordered }
            : { status: 'error', error: reply.error },
        );
      };
      const onExit = (code: number | null, signal: string | null) => {
        if (this.child === child) this.child = null;
        finish({ status: 'error', error: `the SQL process stopped (${signal ?? `exit code ${code}`})` });
      };
      const timer = setTimeout(() => {
        this.kill(child);
        finish({ status: 'timeout' });
      }, this.timeoutMs);
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send({ id, database, sql } satisfies SqlRequest);
    });
  }

  close(): void {
    if (this.child) this.kill(this.child);
  }

  private kill(child: ChildProcess): void {
    if (this.child === child) this.child = null;
    child.kill('SIGKILL');
  }

  private start(): ChildProcess {
    if (this.child) return this.child;
    const here = import.meta.url;
    // From the sources the child is TypeScript: it needs tsx's loader, which a forked process does not inherit.
    const script = here.endsWith('.ts')
      ? {
          path: fileURLToPath(new URL('./sql-runner-child.ts', here)),
          execArgv: ['--import', import.meta.resolve('tsx/esm')],
        }
      : { path: fileURLToPath(new URL('./sql-runner-child.js', here)), execArgv: [] };
    const child = fork(script.path, [], { execArgv: script.execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.unref();
    child.channel?.unref();
    this.child = child;
    return child;
  }
}
