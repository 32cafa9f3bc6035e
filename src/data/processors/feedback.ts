import type { AlignedExample, Message } from '../converters.js';
import { type DatasetProcessor, ignored, invalidExample, ones, type ProcessorContext, requireEosId } from './base.js';
import { inferSeqlen } from './seqlen.js';
import type { DroppedExample, FeedbackRecord, ProcessedBatch } from './types.js';

/**
 * KTO examples (upstream's FeedbackDatasetProcessor). `_response` is [answer, ""] for a desirable example and
 * ["", answer] for an undesirable one. The KL completion pairs each prompt with the response of the previous
 * example of the same batch (the first takes the batch's last), before invalid examples are dropped.
 */
export class FeedbackProcessor implements DatasetProcessor<FeedbackRecord> {
  constructor(private readonly ctx: ProcessorContext) {}

  private async encodePair(messages: Message[], ex: AlignedExample): Promise<[number[], number[], boolean]> {
    const { tokenizer, template, args } = this.ctx;
    const [promptFull, responseFull] = await template.encodeOneturn(tokenizer, messages, ex._system, ex._tools);
    if (template.efficientEos) responseFull.push(requireEosId(tokenizer));
    const [sourceLen, targetLen] = inferSeqlen(promptFull.length, responseFull.length, args.cutoffLen);
    const cut = sourceLen < promptFull.length || targetLen < responseFull.length;
    const prompt = promptFull.slice(0, sourceLen);
    const response = responseFull.slice(0, targetLen);
    return [[...prompt, ...response], [...ignored(sourceLen), ...response], cut];
  }

  async processBatch(examples: readonly AlignedExample[], offset: number): Promise<ProcessedBatch<FeedbackRecord>> {
    const records: FeedbackRecord[] = [];
    const dropped: DroppedExample[] = [];
    let truncated = 0;
    const n = examples.length;
    for (let i = 0; i < n; i++) {
      const ex = examples[i]!;
      if (ex._prompt.length % 2 !== 1 || ex._response.length < 2) {
        dropped.push(invalidExample(offset + i, [...ex._prompt, ...ex._response]));
        continue;
      }
      const klResponse = examples[(i + n - 1) % n]!._response;
      const desirable = ex._response[0]!.content !== '';
      const reply = desirable ? ex._response[0]! : ex._response[1]!;
      const klReply = klResponse[0]?.content ? klResponse[0] : klResponse[1];
      if (klReply === undefined) {
        dropped.push(invalidExample(offset + i, [...ex._prompt, ...klResponse]));
        continue;
      }
      const [inputIds, labels, cut] = await this.encodePair([...ex._prompt, reply], ex);
      const [klInputIds, klLabels] = await this.encodePair([...ex._prompt, klReply], ex);
      if (cut) truncated++;
      records.push({
        input_ids: inputIds,
        attention_mask: ones(inputIds.length),
        labels,
        kl_input_ids: klInputIds,
        kl_attention_mask: ones(klInputIds.length),
        kl_labels: klLabels,
        kto_tags: desirable,
      });
    }
    return { records, dropped, truncated };
  }
}
