/** The tensor engine: Tensor, memory ownership, autograd, threads, and the ops over the native kernels. */

export type { BackwardFn, BackwardObserver, GradNode } from './autograd.js';
export { backward, isGradEnabled, noGrad, observeBackward, record, withGrad } from './autograd.js';
export { checkpoint } from './checkpoint.js';
export { DTYPE_BYTES, DTYPES, type DType, isDType } from './dtype.js';
export { native } from './native.js';
export * from './ops/index.js';
export { dynamicMap, FP4_CODE, NF4_CODE } from './quant/codebooks.js';
export {
  type GgmlQuantType,
  isGgmlQuantType,
  QuantizedMatrix,
  type QuantizedParts,
  type QuantizeOptions,
  type QuantType,
} from './quant/quantized-matrix.js';
export { Generator, type GeneratorState } from './random.js';
export { keep, scope } from './scope.js';
export { cachedBytes, emptyCache, liveBlocks, liveBytes } from './storage.js';
export { formatShape, numelOf, type Shape, shapeEquals, Tensor } from './tensor.js';
export { getThreads, isa, physicalCores, setThreads } from './threads.js';
