import type { AlignedExample, Message } from '../converters.js';
import { type DatasetProcessor, invalidExample, ones, type ProcessorContext, requireEosId } from './base.js';
import { inferSeqlen } from './seqlen.js';
import type { DroppedExample, ProcessedBatch, SupervisedRecord } from './types.js';

/**
 * Prompts for generation (upstream's UnsupervisedDatasetProcessor): input_ids are the prompt (ending with the
 * assistant header), labels the reference reply's ids (empty when there is none), cut by inferSeqlen.
 */
export class UnsupervisedProcessor implements DatasetProcessor<SupervisedRecord> {
  constructor(private readonly ctx: ProcessorContext) {}

  async processBatch(examples: readonly AlignedExample[], offset: number): Promise<ProcessedBatch<SupervisedRecord>> {
    const { tokenizer, template, args } = this.ctx;
    const records: SupervisedRecord[] = [];
    const dropped: DroppedExample[] = [];
    let truncated = 0;
    for (let i = 0; i < examples.length; i++) {
      const ex = examples[i]!;
      if (ex._prompt.length % 2 !== 1) {
        dropped.push(invalidExample(offset + i, [...ex._prompt, ...ex._response]));
        continue;
      }
      const reply: Message = ex._response.length === 1 ? ex._response[0]! : { role: 'assistant', content: '' };
      const [promptFull, labelsFull] = await template.encodeOneturn(
        tokenizer,
        [...ex._prompt, reply],
        ex._system,
        ex._tools,
      );
      if (template.efficientEos) labelsFull.push(requireEosId(tokenizer));
      const [sourceLen, targetLen] = inferSeqlen(promptFull.length, labelsFull.length, args.cutoffLen);
      if (sourceLen < promptFull.length || targetLen < labelsFull.length) truncated++;
      const inputIds = promptFull.slice(0, sourceLen);
      records.push({
        input_ids: inputIds,
        attention_mask: ones(inputIds.length),
        labels: labelsFull.slice(0, targetLen),
      });
    }
    return { records, dropped, truncated };
  }
}
