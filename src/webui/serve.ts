/**
 * Starts the board: checks the address/token rule (a non-loopback address needs a token), builds the work dirs,
 * run manager and chat session, and serves the Hono app with @hono/node-server.
 */

import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { createBoardApp } from './app.js';
import { isLoopback } from './auth.js';
import { ChatSession } from './chat-session.js';
import { ExportJob } from './export-job.js';
import { RunManager } from './runs.js';
import { WorkDirs } from './work-dirs.js';

/** The package root (src/webui or dist/webui is two levels below it): assets and bin/lmforge.js live there. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface BoardOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  token: string | null;
  workDirs: string[];
  initial?: Record<string, unknown>;
  /** How often run state is re-read for the event streams (ms). */
  pollMs?: number;
}

export interface RunningBoard {
  url: string;
  port: number;
  runs: RunManager;
  chat: ChatSession;
  exportJob: ExportJob;
  close(): Promise<void>;
}

export function checkBoardOptions(o: Pick<BoardOptions, 'host' | 'token'>): void {
  if (!isLoopback(o.host) && !o.token) {
    throw Object.assign(
      new Error(
        `--host ${o.host} lets other machines reach the board, which can run programs and read files: ` +
          'pass --token <secret> (or set WEBUI_TOKEN), or keep the default --host 127.0.0.1',
      ),
      { userFacing: true },
    );
  }
  if (o.token !== null && o.token.length < 8) {
    throw Object.assign(new Error('--token must be at least 8 characters'), { userFacing: true });
  }
}

export function startBoard(options: BoardOptions): Promise<RunningBoard> {
  checkBoardOptions(options);
  const workDirs = new WorkDirs(options.workDirs);
  const lmforgeBin = join(PACKAGE_ROOT, 'bin', 'lmforge.js');
  const exportJob = new ExportJob(workDirs, lmforgeBin);
  const runs = new RunManager(workDirs, {
    lmforgeBin,
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
  });
  const chat = new ChatSession(workDirs);
  const app = createBoardApp({
    workDirs,
    runs,
    chat,
    exportJob,
    token: options.token,
    assetsDir: join(PACKAGE_ROOT, 'assets', 'webui'),
    initial: options.initial ?? {},
  });
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, (info: AddressInfo) => {
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      resolve({
        url: `http://${host}:${info.port}`,
        port: info.port,
        runs,
        chat,
        exportJob,
        close: async () => {
          await runs.close();
          await exportJob.close();
          await chat.unload();
          await new Promise<void>((done) => {
            server.close(() => done());
            if ('closeAllConnections' in server) server.closeAllConnections();
          });
        },
      });
    });
    server.once('error', reject);
  });
}
