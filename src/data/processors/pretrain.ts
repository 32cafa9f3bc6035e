import type { AlignedExample } from '../converters.js';
import { type DatasetProcessor, invalidExample, ones, type ProcessorContext } from './base.js';
import type { DroppedExample, ProcessedBatch, SupervisedRecord } from './types.js';

/**
 * Pre-training text (upstream's PretrainDatasetProcessor): each text gets the EOS text appended (Llama 3's
 * `<|end_of_text|>` for the llama3 template, whose EOS is <|eot_id|>) and is tokenized without special tokens.
 * Without packing each text is truncated to cutoff_len (BOS text prepended when the tokenizer adds BOS). With
 * packing the batch's tokens are concatenated and cut into cutoff_len blocks, the remainder dropped, and the
 * first token of each block replaced by BOS when the tokenizer adds BOS. Labels are the input ids (the
 * language-modeling collator masks padding).
 */
export class PretrainProcessor implements DatasetProcessor<SupervisedRecord> {
  constructor(private readonly ctx: ProcessorContext) {}

  async processBatch(examples: readonly AlignedExample[], offset: number): Promise<ProcessedBatch<SupervisedRecord>> {
    const { tokenizer, args } = this.ctx;
    const eosText = args.template === 'llama3' ? '<|end_of_text|>' : (tokenizer.eosToken ?? '');
    const addBos = tokenizer.addBosToken && tokenizer.bosToken !== null && tokenizer.bosTokenId !== null;
    const dropped: DroppedExample[] = [];
    const texts: string[] = [];
    examples.forEach((example, i) => {
      const first = example._prompt[0];
      if (first === undefined) dropped.push(invalidExample(offset + i, example._prompt));
      else texts.push(first.content + eosText);
    });
    const records: SupervisedRecord[] = [];
    let truncated = 0;
    if (!args.packing) {
      const encoded = await tokenizer.encodeBatch(addBos ? texts.map((t) => tokenizer.bosToken + t) : texts, {
        addSpecialTokens: false,
      });
      for (let ids of encoded) {
        if (ids.length > args.cutoffLen) {
          truncated++;
          ids =
            tokenizer.truncationSide === 'left' ? ids.slice(ids.length - args.cutoffLen) : ids.slice(0, args.cutoffLen);
        }
        records.push({ input_ids: ids, attention_mask: ones(ids.length), labels: [...ids] });
      }
      return { records, dropped, truncated };
    }
    const encoded = await tokenizer.encodeBatch(texts, { addSpecialTokens: false });
    const all = encoded.flat();
    const block = args.cutoffLen;
    const total = Math.floor(all.length / block) * block;
    // Documents that end past the last whole block lose their tail (or all of themselves).
    let end = 0;
    for (const ids of encoded) {
      end += ids.length;
      if (end > total) truncated++;
    }
    for (let start = 0; start < total; start += block) {
      const ids = all.slice(start, start + block);
      if (addBos) ids[0] = tokenizer.bosTokenId!;
      records.push({ input_ids: ids, attention_mask: ones(ids.length), labels: [...ids] });
    }
    return { records, dropped, truncated };
  }
}
