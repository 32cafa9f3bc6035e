/**
 * One rank of `npm run bench -- ddp`'s allreduce measurement: lmforge's bucketed gradient allreduce (the one the
 * trainer runs) over `bytes` of f32 split into `tensors` tensors, timed like the plain MPI loop beside it.
 * Rank 0 prints {"bytes", "seconds_per_op"} as one JSON line.
 */

import { DEFAULT_BUCKET_BYTES } from '../../src/dist/world.js';
import { Tensor } from '../../src/engine/index.js';
import { allreduceTensors_, finalizeMpi, initMpi, mpiBarrier } from '../../src/engine/mpi.js';

const [bytesArg, itersArg, tensorsArg] = process.argv.slice(2);
const bytes = Number(bytesArg ?? 1 << 20);
const iters = Number(itersArg ?? 20);
const count = Number(tensorsArg ?? 32);
const info = initMpi();
const per = Math.max(1, Math.floor(bytes / 4 / count));
const tensors = Array.from({ length: count }, () => Tensor.from(new Float32Array(per).fill(1), [per]));
const opts = { average: false, bucketBytes: DEFAULT_BUCKET_BYTES, timeoutS: 600 };
allreduceTensors_(tensors, opts);
mpiBarrier(1, 600);
const t0 = process.hrtime.bigint();
for (let i = 0; i < iters; i++) allreduceTensors_(tensors, opts);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9 / iters;
if (info.rank === 0) console.log(JSON.stringify({ bytes: per * count * 4, seconds_per_op: seconds }));
finalizeMpi();
