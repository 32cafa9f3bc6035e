import type { AlignedExample } from '../converters.js';
import { type DatasetProcessor, ignored, invalidExample, ones, type ProcessorContext, requireEosId } from './base.js';
import { inferSeqlen } from './seqlen.js';
import type { DroppedExample, PairwiseRecord, ProcessedBatch } from './types.js';

/**
 * Preference pairs (upstream's PairwiseDatasetProcessor): chosen and rejected share the prompt; the budget is
 * split by inferSeqlen against the longer reply, and both replies are cut to the same length.
 */
export class PairwiseProcessor implements DatasetProcessor<PairwiseRecord> {
  constructor(private readonly ctx: ProcessorContext) {}

  async processBatch(examples: readonly AlignedExample[], offset: number): Promise<ProcessedBatch<PairwiseRecord>> {
    const { tokenizer, template, args } = this.ctx;
    const records: PairwiseRecord[] = [];
    const dropped: DroppedExample[] = [];
    let truncated = 0;
    for (let i = 0; i < examples.length; i++) {
      const ex = examples[i]!;
      if (ex._prompt.length % 2 !== 1 || ex._response.length < 2) {
        dropped.push(invalidExample(offset + i, [...ex._prompt, ...ex._response]));
        continue;
      }
      const [promptFull, chosenFull] = await template.encodeOneturn(
        tokenizer,
        [...ex._prompt, ex._response[0]!],
        ex._system,
        ex._tools,
      );
      const [, rejectedFull] = await template.encodeOneturn(
        tokenizer,
        [...ex._prompt, ex._response[1]!],
        ex._system,
        ex._tools,
      );
      if (template.efficientEos) {
        const eos = requireEosId(tokenizer);
        chosenFull.push(eos);
        rejectedFull.push(eos);
      }
      const longest = Math.max(chosenFull.length, rejectedFull.length);
      const [sourceLen, targetLen] = inferSeqlen(promptFull.length, longest, args.cutoffLen);
      if (sourceLen < promptFull.length || targetLen < longest) truncated++;
      const prompt = promptFull.slice(0, sourceLen);
      const chosen = chosenFull.slice(0, targetLen);
      const rejected = rejectedFull.slice(0, targetLen);
      records.push({
        chosen_input_ids: [...prompt, ...chosen],
        chosen_attention_mask: ones(prompt.length + chosen.length),
        chosen_labels: [...ignored(sourceLen), ...chosen],
        rejected_input_ids: [...prompt, ...rejected],
        rejected_attention_mask: ones(prompt.length + rejected.length),
        rejected_labels: [...ignored(sourceLen), ...rejected],
      });
    }
    return { records, dropped, truncated };
  }
}
