import type { Tokenizer } from '../../tokenizer/tokenizer.js';
import type { AlignedExample, Message } from '../converters.js';
import type { Template } from '../template/template.js';
import type { ProcessedBatch, ResolvedProcessorArgs, TokenizedRecord } from './types.js';

/** What every processor holds: the tokenizer (fixed by getTemplate), the template and the resolved arguments. */
export interface ProcessorContext {
  tokenizer: Tokenizer;
  template: Template;
  args: ResolvedProcessorArgs;
}

/**
 * A processor tokenizes one batch of aligned examples (upstream's preprocess_dataset on a datasets.map batch).
 * `offset` is the batch's first index in the dataset, so dropped examples are named by dataset index.
 */
export interface DatasetProcessor<R extends TokenizedRecord = TokenizedRecord> {
  processBatch(examples: readonly AlignedExample[], offset: number): Promise<ProcessedBatch<R>>;
}

/** The EOS id, which efficient-EOS templates and pretraining need; a clear error if the tokenizer has none. */
export function requireEosId(tokenizer: Tokenizer): number {
  const id = tokenizer.eosTokenId;
  if (id === null) throw new Error('the tokenizer has no EOS token: call getTemplate first, which sets one');
  return id;
}

/** The message text shown for a dropped example, cut so one bad record cannot flood the log. */
export function describeMessages(messages: readonly Message[]): string {
  const text = JSON.stringify(messages.map((m) => ({ role: m.role, content: m.content })));
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
}

export function invalidExample(index: number, messages: readonly Message[]): { index: number; reason: string } {
  return { index, reason: `Dropped invalid example #${index}: ${describeMessages(messages)}` };
}

export function ones(n: number): number[] {
  return new Array<number>(n).fill(1);
}

export function ignored(n: number): number[] {
  return new Array<number>(n).fill(-100);
}
