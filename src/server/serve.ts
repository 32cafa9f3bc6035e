/** Starts the API on a host and port (LLaMA-Factory's API_HOST / API_PORT), and stops it. */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { ChatEngine } from '../infer/chat-engine.js';
import { createApp } from './app.js';
import { DEFAULT_MAX_BODY_BYTES, type ServerSettings } from './context.js';

/** Requests generating at once by default: the scheduler batches their decode steps (src/serve/scheduler.ts). */
export const DEFAULT_MAX_CONCURRENT = 64;

export interface ServerOptions extends ServerSettings {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
}

export interface RunningServer {
  /** `http://host:port`, with the port actually bound. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export function startApiServer(engine: ChatEngine, options: ServerOptions): Promise<RunningServer> {
  const app = createApp(engine, options);
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, (info: AddressInfo) => {
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      resolve({
        url: `http://${host}:${info.port}`,
        port: info.port,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((e) => (e ? fail(e) : done()));
            // Open keep-alive and streaming sockets would hold close() forever.
            if ('closeAllConnections' in server) server.closeAllConnections();
          }),
      });
    });
    server.once('error', reject);
  });
}

/**
 * Settings from flags first, then LLaMA-Factory's environment variables: API_HOST (0.0.0.0), API_PORT (8000),
 * API_KEY, API_MODEL_NAME (gpt-3.5-turbo); queue bounds from API_MAX_CONCURRENT (64, the sequences decoded together) and API_MAX_WAITING (16); the
 * request body bound from API_MAX_BODY_BYTES (16 MiB).
 */
export function resolveServerOptions(
  flags: Partial<ServerOptions>,
  env: Record<string, string | undefined> = process.env,
): ServerOptions {
  const int = (name: string, flag: number | undefined, fallback: number, min: number): number => {
    const raw = flag ?? (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : fallback);
    if (!Number.isInteger(raw) || raw < min) {
      throw new Error(
        `${name} must be an integer >= ${min}, got '${flag ?? env[name]}'. Fix the flag or the variable.`,
      );
    }
    return raw;
  };
  const options: ServerOptions = {
    host: flags.host ?? env.API_HOST ?? '0.0.0.0',
    port: int('API_PORT', flags.port, 8000, 0),
    modelName: flags.modelName ?? env.API_MODEL_NAME ?? 'gpt-3.5-turbo',
    maxConcurrent: int('API_MAX_CONCURRENT', flags.maxConcurrent, DEFAULT_MAX_CONCURRENT, 1),
    maxWaiting: int('API_MAX_WAITING', flags.maxWaiting, 16, 0),
    maxBodyBytes: int('API_MAX_BODY_BYTES', flags.maxBodyBytes, DEFAULT_MAX_BODY_BYTES, 1),
  };
  const apiKey = flags.apiKey ?? env.API_KEY;
  if (apiKey) options.apiKey = apiKey;
  if (flags.kbRoot) options.kbRoot = flags.kbRoot;
  return options;
}

/**
 * The server's own flags from `lmforge api` arguments (`--host`, `--port`, `--max_concurrent`, `--max_waiting`,
 * `--max_body_bytes`, also as `--flag=value`); every other argument is returned in `rest` for the model loader. The API key is only read
 * from API_KEY, as in LLaMA-Factory, so it never shows in a process list.
 */
export function parseApiFlags(argv: readonly string[]): { flags: Partial<ServerOptions>; rest: string[] } {
  const flags: Partial<ServerOptions> = {};
  const rest: string[] = [];
  const int = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || v === '' || !Number.isInteger(n) || n < 0) {
      throw new Error(`--${name} needs a non-negative integer, got '${v ?? ''}'.`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = (eq >= 0 ? arg.slice(0, eq) : arg).replace(/^--/, '').replaceAll('-', '_');
    if (!arg.startsWith('--') || !['host', 'port', 'max_concurrent', 'max_waiting', 'max_body_bytes'].includes(name)) {
      rest.push(arg);
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (name === 'host') {
      if (!value) throw new Error('--host needs a value, e.g. --host 127.0.0.1.');
      flags.host = value;
    } else if (name === 'port') flags.port = int('port', value);
    else if (name === 'max_concurrent') flags.maxConcurrent = int('max_concurrent', value);
    else if (name === 'max_waiting') flags.maxWaiting = int('max_waiting', value);
    else flags.maxBodyBytes = int('max_body_bytes', value);
  }
  return { flags, rest };
}
