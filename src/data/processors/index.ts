/** LLaMA-Factory's dataset processors: aligned examples -> token ids and labels, per training stage. */

import { pushAll } from '../../util/arrays.js';
import type { AlignedExample } from '../converters.js';
import type { DatasetProcessor, ProcessorContext } from './base.js';
import { FeedbackProcessor } from './feedback.js';
import { PackedSupervisedProcessor } from './packed-supervised.js';
import { PairwiseProcessor } from './pairwise.js';
import { PretrainProcessor } from './pretrain.js';
import { SupervisedProcessor } from './supervised.js';
import type { DroppedExample, ProcessedBatch, ProcessorKind, TokenizedRecord } from './types.js';
import { UnsupervisedProcessor } from './unsupervised.js';

export type { DatasetProcessor, ProcessorContext } from './base.js';
export { FeedbackProcessor } from './feedback.js';
export { PackedSupervisedProcessor } from './packed-supervised.js';
export { PairwiseProcessor } from './pairwise.js';
export { PretrainProcessor } from './pretrain.js';
export { greedyKnapsack, inferSeqlen, searchForFit } from './seqlen.js';
export { SupervisedProcessor } from './supervised.js';
export * from './types.js';
export { UnsupervisedProcessor } from './unsupervised.js';

export function createProcessor(kind: ProcessorKind, ctx: ProcessorContext): DatasetProcessor {
  switch (kind) {
    case 'pretrain':
      return new PretrainProcessor(ctx);
    case 'supervised':
      return new SupervisedProcessor(ctx);
    case 'packed_supervised':
      return new PackedSupervisedProcessor(ctx);
    case 'pairwise':
      return new PairwiseProcessor(ctx);
    case 'feedback':
      return new FeedbackProcessor(ctx);
    case 'unsupervised':
      return new UnsupervisedProcessor(ctx);
  }
}

/**
 * Runs a processor over `examples` in batches of `batchSize` (upstream's datasets.map(batched=True)). `offset` is
 * the dataset index of examples[0]; a shard that starts at a batch border gives the records of one pass.
 */
export async function processRange(
  processor: DatasetProcessor,
  examples: readonly AlignedExample[],
  batchSize: number,
  offset = 0,
): Promise<ProcessedBatch> {
  const records: TokenizedRecord[] = [];
  const dropped: DroppedExample[] = [];
  let truncated = 0;
  for (let b = 0; b < examples.length; b += batchSize) {
    const out = await processor.processBatch(examples.slice(b, b + batchSize), offset + b);
    for (const r of out.records) records.push(r);
    pushAll(dropped, out.dropped);
    truncated += out.truncated;
  }
  return { records, dropped, truncated };
}
