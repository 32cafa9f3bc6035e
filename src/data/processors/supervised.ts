import { pushAll } from '../../util/arrays.js';
import type { AlignedExample, Message } from '../converters.js';
import { type DatasetProcessor, ignored, invalidExample, ones, type ProcessorContext, requireEosId } from './base.js';
import { inferSeqlen } from './seqlen.js';
import { type DroppedExample, IGNORE_INDEX, type ProcessedBatch, type SupervisedRecord } from './types.js';

export interface EncodedExample {
  inputIds: number[];
  labels: number[];
  /** tokens the example had before truncation */
  fullLength: number;
}

/**
 * Multi-turn supervised examples (upstream's SupervisedDatasetProcessor): every assistant turn is trained; the
 * cutoff_len budget is spent turn by turn with inferSeqlen; mask_history trains only the last turn and spends the
 * budget from the last turn backwards; efficient-EOS templates put EOS in the label of the next prompt's first
 * token and after the last reply.
 */
export class SupervisedProcessor implements DatasetProcessor<SupervisedRecord> {
  constructor(protected readonly ctx: ProcessorContext) {}

  static isValid(example: AlignedExample): boolean {
    return example._prompt.length % 2 === 1 && example._response.length === 1;
  }

  async encodeExample(example: AlignedExample): Promise<EncodedExample> {
    const { tokenizer, template, args } = this.ctx;
    const messages: Message[] = [...example._prompt, ...example._response];
    let pairs = await template.encodeMultiturn(tokenizer, messages, example._system, example._tools, args.maskHistory);
    const eos = template.efficientEos ? requireEosId(tokenizer) : -1;
    let inputIds: number[] = [];
    let labels: number[] = [];
    let totalLength = template.efficientEos ? 1 : 0;
    let fullLength = totalLength;
    for (const [s, t] of pairs) fullLength += s.length + t.length;
    // The last turns come first so that truncation eats the history, not the trained turn.
    if (args.maskHistory) pairs = [...pairs].reverse();
    for (let turn = 0; turn < pairs.length; turn++) {
      if (totalLength >= args.cutoffLen) break;
      const [sourceFull, targetFull] = pairs[turn]!;
      const [sourceLen, targetLen] = inferSeqlen(sourceFull.length, targetFull.length, args.cutoffLen - totalLength);
      const source = sourceFull.slice(0, sourceLen);
      const target = targetFull.slice(0, targetLen);
      totalLength += sourceLen + targetLen;
      let sourceLabel: number[];
      if (args.trainOnPrompt) sourceLabel = source;
      else if (template.efficientEos && turn !== 0) sourceLabel = [eos, ...ignored(sourceLen - 1)];
      else sourceLabel = ignored(sourceLen);
      const targetLabel = args.maskHistory && turn !== 0 ? ignored(targetLen) : target;
      if (args.maskHistory) {
        inputIds = [...source, ...target, ...inputIds];
        labels = [...sourceLabel, ...targetLabel, ...labels];
      } else {
        pushAll(inputIds, source, target);
        pushAll(labels, sourceLabel, targetLabel);
      }
    }
    if (template.efficientEos) {
      inputIds.push(eos);
      labels.push(eos);
    }
    return { inputIds, labels, fullLength };
  }

  async processBatch(examples: readonly AlignedExample[], offset: number): Promise<ProcessedBatch<SupervisedRecord>> {
    const records: SupervisedRecord[] = [];
    const dropped: DroppedExample[] = [];
    let truncated = 0;
    for (const [i, encoded] of (await this.encodeValid(examples)).entries()) {
      if (encoded === null) {
        const example = examples[i]!;
        dropped.push(invalidExample(offset + i, [...example._prompt, ...example._response]));
        continue;
      }
      const { inputIds, labels, fullLength } = encoded;
      if (inputIds.length < fullLength) truncated++;
      records.push({ input_ids: inputIds, attention_mask: ones(inputIds.length), labels });
    }
    return { records, dropped, truncated };
  }

  /**
   * Every valid example of a batch encoded at once (null for invalid ones): the tokenizer's async calls overlap
   * on libuv's threads, several times faster than one example after the other; results keep their order.
   */
  protected encodeValid(examples: readonly AlignedExample[]): Promise<Array<EncodedExample | null>> {
    return Promise.all(
      examples.map((example) => (SupervisedProcessor.isValid(example) ? this.encodeExample(example) : null)),
    );
  }
}

export { IGNORE_INDEX };
