/** Worker-thread entry for parallel tokenization: runs one shard and posts its records back as bytes. */
import { parentPort, workerData } from 'node:worker_threads';
import { runShard, type ShardJob } from './preprocess-shard.js';

const result = await runShard(workerData as ShardJob);
parentPort!.postMessage(result, [result.bytes.buffer as ArrayBuffer]);
