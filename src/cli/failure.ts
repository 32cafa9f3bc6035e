/**
 * How a failed command reaches the user. A user error (bad arguments, data, model files, a path that does not
 * exist) is one line naming what is wrong and what to do; its stack is shown only with LMFORGE_DEBUG=1. Anything
 * else is a bug: one line saying so, where to report it, and the path of a file holding the full trace (in the
 * run's output_dir when the command knows it, else the temp folder).
 */
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { arch, platform, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where lmforge bugs go; printed with every unexpected error. */
export const REPORT_TO = 'the lmforge issue tracker (attach the trace file below and the command you ran)';

/** Node's system error codes that come from the user's paths or ports, not from a bug. */
const SYSTEM_USER_CODES: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'already exists',
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
  EADDRINUSE: 'the address is already in use: pick another --port',
  EADDRNOTAVAIL: 'the address is not available on this machine: check --host',
};

/**
 * lmforge's optional peer dependencies (package.json `peerDependencies`, all optional): the knowledge base's SQLite,
 * vector and document parsers, which text-to-SQL shares. A plain install leaves them out, so it compiles nothing;
 * a command that needs one says what to install.
 */
function optionalPackages(): Record<string, string> {
  try {
    const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json');
    return (
      (JSON.parse(readFileSync(pkg, 'utf8')) as { peerDependencies?: Record<string, string> }).peerDependencies ?? {}
    );
  } catch {
    return {};
  }
}

/** The optional package a failed import names, or null. */
function missingOptionalPackage(e: Error): string | null {
  const code = (e as SystemError).code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return null;
  const name = /Cannot find (?:package|module) '([^']+)'/.exec(e.message)?.[1];
  if (!name) return null;
  const pkg = name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : (name.split('/')[0] as string);
  return pkg in optionalPackages() ? pkg : null;
}

let reportDir: string | undefined;

/** A command that knows its output folder (train's output_dir) names it here, so a crash trace lands beside the run. */
export function setReportDir(dir: string | undefined): void {
  reportDir = dir;
}

interface SystemError extends Error {
  code?: string;
  path?: string;
  dest?: string;
}

/** Errors meant for users: marked `userFacing` where they are thrown, or a system error about a user's path/port. */
export function isUserError(e: unknown): e is Error {
  if (!(e instanceof Error)) return false;
  if ((e as { userFacing?: unknown }).userFacing === true) return true;
  if (missingOptionalPackage(e) !== null) return true;
  const code = (e as SystemError).code;
  return code !== undefined && code in SYSTEM_USER_CODES;
}

/** The one line shown for a user error. */
export function userMessage(e: Error): string {
  const missing = missingOptionalPackage(e);
  if (missing !== null) {
    const all = Object.entries(optionalPackages()).map(([name, version]) => `${name}@${version}`);
    return (
      `this needs ${missing}, one of lmforge's optional packages (the knowledge base and text-to-SQL use them; a ` +
      `plain install leaves them out so that it compiles nothing): run \`npm install --save-exact ${all.join(' ')}\``
    );
  }
  const sys = e as SystemError;
  if ((e as { userFacing?: unknown }).userFacing !== true && sys.code !== undefined) {
    const what = SYSTEM_USER_CODES[sys.code];
    if (sys.path !== undefined) return `${sys.path}: ${what} (${sys.code})`;
    return `${e.message} (${what})`;
  }
  return e.message;
}

function traceOf(e: unknown): string {
  const lines: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur !== undefined && depth < 8; depth++) {
    lines.push(depth === 0 ? '' : 'Caused by:', cur instanceof Error ? (cur.stack ?? String(cur)) : String(cur));
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return lines.filter((l) => l !== '').join('\n');
}

function isFolder(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** Writes the trace of an unexpected error and returns the file's path (null if even that failed). */
export function writeCrashReport(e: unknown, command: string, argv: readonly string[], version: string): string | null {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const text = [
    `lmforge ${version} ${command} crashed at ${new Date().toISOString()}`,
    `command: lmforge ${[command, ...argv].join(' ')}`,
    `node ${process.version} (v8 ${process.versions.v8}), ${platform()} ${release()} ${arch()}`,
    `cwd: ${process.cwd()}`,
    '',
    traceOf(e),
    '',
  ].join('\n');
  const dirs = reportDir !== undefined && isFolder(reportDir) ? [reportDir] : [];
  for (const dir of [...dirs, 'tmp']) {
    try {
      const folder = dir === 'tmp' ? mkdtempSync(join(tmpdir(), 'lmforge-crash-')) : dir;
      const file = join(folder, `lmforge-crash-${stamp}.log`);
      writeFileSync(file, text);
      if (existsSync(file)) return file;
    } catch {
      // fall through to the temp folder
    }
  }
  return null;
}

export interface FailureIo {
  error: (line: string) => void;
  env: Record<string, string | undefined>;
}

/** Prints a failed command's error as the module comment says and returns its exit code (1). */
export function reportFailure(
  e: unknown,
  command: string,
  argv: readonly string[],
  version: string,
  io: FailureIo = { error: (l) => console.error(l), env: process.env },
): number {
  const debug = io.env.LMFORGE_DEBUG === '1';
  if (isUserError(e)) {
    io.error(`lmforge ${command}: ${userMessage(e)}`);
    if (debug) io.error(traceOf(e));
    return 1;
  }
  const message = e instanceof Error ? e.message : String(e);
  const file = writeCrashReport(e, command, argv, version);
  io.error(`lmforge ${command}: unexpected error (a bug in lmforge, not in your setup): ${message}`);
  io.error(
    file === null
      ? `Please report it to ${REPORT_TO}; the trace follows.\n${traceOf(e)}`
      : `The full trace is in ${file}. Please report it to ${REPORT_TO}.`,
  );
  if (debug && file !== null) io.error(traceOf(e));
  return 1;
}
