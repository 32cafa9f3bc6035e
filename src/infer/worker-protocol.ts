/**
 * Messages between ChatModel (main thread) and chat-worker.ts. Generation in the worker is synchronous, so the
 * worker cannot read messages while it runs: stop and abort travel through a shared control word (an Int32Array
 * over a SharedArrayBuffer, one per request) that the worker reads after every token.
 */
import type { EmbeddingResult, GenerationResult, Message, StreamPiece } from './chat-engine.js';
import type { ChatModelArgs, GenerateJob } from './chat-runner.js';

export type WorkerRequest =
  | { id: number; op: 'generate'; job: GenerateJob; control: SharedArrayBuffer }
  | { id: number; op: 'embed'; texts: readonly string[] }
  | { id: number; op: 'choiceLogits'; prompts: readonly (readonly Message[])[] };

export type WorkerReply =
  | { type: 'ready'; maxModelLen: number }
  | { type: 'piece'; id: number; row: number; piece: StreamPiece }
  | { type: 'done'; id: number; value: GenerationResult[] | EmbeddingResult | number[][] }
  | { type: 'error'; id: number; name: string; message: string; userFacing: boolean };

export interface WorkerInit {
  args: ChatModelArgs;
}
