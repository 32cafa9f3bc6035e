import { pushAll } from '../../util/arrays.js';
import type { AlignedExample } from '../converters.js';
import { invalidExample } from './base.js';
import { greedyKnapsack } from './seqlen.js';
import { SupervisedProcessor } from './supervised.js';
import { type DroppedExample, IGNORE_INDEX, type ProcessedBatch, type SupervisedRecord } from './types.js';

/**
 * Supervised examples packed into rows of cutoff_len + 1 tokens (upstream's PackedSupervisedDatasetProcessor):
 * a batch's sequences go into bins by greedyKnapsack, position ids restart at 0 per sequence, the row is padded
 * with pad ids (labels IGNORE_INDEX, positions 0). attention_mask is 1 everywhere, or with neat_packing the
 * 1-based index of the sequence each token belongs to (0 on padding): the collator turns that into segment ids
 * so attention stays inside each sequence. Sequences longer than cutoff_len are dropped.
 */
export class PackedSupervisedProcessor extends SupervisedProcessor {
  override async processBatch(
    examples: readonly AlignedExample[],
    offset: number,
  ): Promise<ProcessedBatch<SupervisedRecord>> {
    const { tokenizer, args } = this.ctx;
    const dropped: DroppedExample[] = [];
    const inputs: number[][] = [];
    const labelRows: number[][] = [];
    const lengths: number[] = [];
    const byLength = new Map<number, number[]>();
    let truncated = 0;
    for (const [i, encoded] of (await this.encodeValid(examples)).entries()) {
      if (encoded === null) {
        const example = examples[i]!;
        dropped.push(invalidExample(offset + i, [...example._prompt, ...example._response]));
        continue;
      }
      const { inputIds, labels, fullLength } = encoded;
      if (inputIds.length < fullLength) truncated++;
      const length = inputIds.length;
      if (length > args.cutoffLen) {
        // encodeExample already keeps within cutoff_len; upstream keeps this guard and so do we.
        dropped.push({
          index: offset + i,
          reason: `Dropped lengthy example with length ${length} > ${args.cutoffLen}.`,
        });
        continue;
      }
      lengths.push(length);
      const list = byLength.get(length) ?? [];
      list.push(inputs.length);
      byLength.set(length, list);
      inputs.push(inputIds);
      labelRows.push(labels);
    }
    const padId = tokenizer.padTokenId;
    if (padId === null && lengths.length > 0)
      throw new Error('packing needs a pad token: call getTemplate first, which sets one');
    const records: SupervisedRecord[] = [];
    for (const knapsack of greedyKnapsack(lengths, args.cutoffLen)) {
      const inputIds: number[] = [];
      const attention: number[] = [];
      const positions: number[] = [];
      const labels: number[] = [];
      knapsack.forEach((length, k) => {
        // Upstream pops the most recent example of this length.
        const index = byLength.get(length)!.pop()!;
        const ids = inputs[index]!;
        pushAll(inputIds, ids);
        pushAll(labels, labelRows[index]!);
        for (let p = 0; p < ids.length; p++) {
          positions.push(p);
          attention.push(args.neatPacking ? k + 1 : 1);
        }
      });
      const pad = args.cutoffLen + 1 - inputIds.length;
      for (let p = 0; p < pad; p++) {
        inputIds.push(padId!);
        positions.push(0);
        labels.push(IGNORE_INDEX);
        attention.push(args.neatPacking ? 0 : 1);
      }
      records.push({ input_ids: inputIds, attention_mask: attention, labels, position_ids: positions });
    }
    return { records, dropped, truncated };
  }
}
