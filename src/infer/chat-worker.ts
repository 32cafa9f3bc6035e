/**
 * Worker-thread entry of ChatModel: loads its own model (the native addon is context-aware, so each thread gets
 * its own instance of the module; tensors never cross threads), answers requests one at a time, and posts pieces
 * back while it generates.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ChatRunner } from './chat-runner.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('chat-worker.ts runs as a worker thread (ChatModel starts it)');
const post = (m: WorkerReply) => port.postMessage(m);

let runner: ChatRunner;
try {
  runner = await ChatRunner.load((workerData as WorkerInit).args);
} catch (e) {
  post(failure(-1, e));
  process.exit(1);
}
post({ type: 'ready', maxModelLen: runner.maxModelLen });

// Requests run in arrival order: encoding is async, so without the chain two could interleave. With the scheduler
// (lmforge api) generations are not chained: each joins the running batch at its next step, and the scheduler's
// loop yields between steps, so this handler keeps receiving requests while others decode. The board's single-user
// scheduler (on-demand-scheduler.ts) runs one request at a time, so its requests stay chained.
let chain: Promise<void> = Promise.resolve();
port.on('message', (req: WorkerRequest) => {
  if (req.op === 'generate' && runner.scheduler) void handle(req);
  else chain = chain.then(() => handle(req));
});

async function handle(req: WorkerRequest): Promise<void> {
  try {
    if (req.op === 'generate') {
      const control = new Int32Array(req.control);
      const value = await runner.run(req.job, (row, piece) => post({ type: 'piece', id: req.id, row, piece }), control);
      post({ type: 'done', id: req.id, value });
    } else if (req.op === 'embed') {
      post({ type: 'done', id: req.id, value: await runner.embed(req.texts) });
    } else {
      post({ type: 'done', id: req.id, value: await runner.choiceLogits(req.prompts) });
    }
  } catch (e) {
    post(failure(req.id, e));
  }
}

function failure(id: number, e: unknown): WorkerReply {
  const err = e instanceof Error ? e : new Error(String(e));
  return {
    type: 'error',
    id,
    name: err.name,
    message: err.message,
    userFacing: (err as { userFacing?: boolean }).userFacing === true,
  };
}
