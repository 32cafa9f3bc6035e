/**
 * Starts a worker thread on a module next to the caller. From a clone the sources are TypeScript run through tsx (a
 * devDependency), and a worker does not inherit the parent's loader, so it registers tsx first; from the compiled
 * package (dist/) the module is plain JavaScript and runs as it is, with no tsx installed.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** `name` is the module's file name without extension; `callerUrl` is the caller's import.meta.url. */
export function siblingWorker(name: string, callerUrl: string, options: WorkerOptions): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), options);
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
