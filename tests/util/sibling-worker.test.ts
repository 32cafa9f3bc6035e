import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { siblingWorker } from '../../src/util/sibling-worker.js';

const dir = mkdtempSync(join(tmpdir(), 'lmforge-sibling-worker-'));
after(() => rmSync(dir, { recursive: true, force: true }));
// An ESM scope, as lmforge's own package.json declares.
writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');

const reply = (worker: Worker) =>
  new Promise<unknown>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });

test('from a compiled .js caller it runs the sibling .js module as it is', async () => {
  writeFileSync(
    join(dir, 'echo.js'),
    "import { parentPort, workerData } from 'node:worker_threads';\nparentPort.postMessage('js ' + workerData);\n",
  );
  const caller = pathToFileURL(join(dir, 'caller.js')).href;
  assert.equal(await reply(siblingWorker('echo', caller, { workerData: 7 })), 'js 7');
});

test('from a .ts caller it registers tsx in the worker, so the sibling .ts (types and all) runs', async () => {
  writeFileSync(
    join(dir, 'typed.ts'),
    "import { parentPort, workerData } from 'node:worker_threads';\nconst n: number = workerData;\nparentPort?.postMessage('ts ' + (n + 1));\n",
  );
  const caller = pathToFileURL(join(dir, 'caller.ts')).href;
  assert.equal(await reply(siblingWorker('typed', caller, { workerData: 7 })), 'ts 8');
});
