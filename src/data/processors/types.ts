import type { Stage } from '../dataset.js';

/** Label of a position the loss ignores (PyTorch's cross-entropy ignore_index). */
export const IGNORE_INDEX = -100;

/** LLaMA-Factory's DataArguments that tokenization reads (same names and defaults). */
export interface ProcessorArgs {
  /** token budget per example; default 2048 */
  cutoff_len?: number;
  train_on_prompt?: boolean;
  /** train on the last turn only */
  mask_history?: boolean;
  /** pack sequences into cutoff_len blocks; default true for pt, false otherwise */
  packing?: boolean | null;
  /** packing with attention kept inside each packed sequence (implies packing) */
  neat_packing?: boolean;
  /** the template name as given (pt appends Llama 3's <|end_of_text|> for `llama3`) */
  template?: string | null;
  /** examples per processing batch (packing and KTO work within one batch); default 1000 */
  preprocessing_batch_size?: number;
  /** sft eval data tokenized for generation (prompt ids, reference ids as labels) */
  predict_with_generate?: boolean;
}

/** ProcessorArgs with defaults applied and the packing cutoff adjustment made. */
export interface ResolvedProcessorArgs {
  cutoffLen: number;
  trainOnPrompt: boolean;
  maskHistory: boolean;
  packing: boolean;
  neatPacking: boolean;
  template: string | null;
  batchSize: number;
}

export type ProcessorKind = 'pretrain' | 'supervised' | 'packed_supervised' | 'pairwise' | 'feedback' | 'unsupervised';

/** input_ids / attention_mask / labels (+ position_ids for packed sequences). */
export interface SupervisedRecord {
  input_ids: number[];
  attention_mask: number[];
  labels: number[];
  /** packed only: positions restart at 0 for each sequence in the pack */
  position_ids?: number[];
}

export interface PairwiseRecord {
  chosen_input_ids: number[];
  chosen_attention_mask: number[];
  chosen_labels: number[];
  rejected_input_ids: number[];
  rejected_attention_mask: number[];
  rejected_labels: number[];
}

export interface FeedbackRecord {
  input_ids: number[];
  attention_mask: number[];
  labels: number[];
  kl_input_ids: number[];
  kl_attention_mask: number[];
  kl_labels: number[];
  kto_tags: boolean;
}

export type TokenizedRecord = SupervisedRecord | PairwiseRecord | FeedbackRecord;

/** An example a processor refused, by its index in the dataset it was given. */
export interface DroppedExample {
  index: number;
  reason: string;
}

export interface ProcessedBatch<R extends TokenizedRecord = TokenizedRecord> {
  records: R[];
  dropped: DroppedExample[];
  /** examples whose tokens were cut to fit cutoff_len */
  truncated: number;
}

export class ProcessorArgsError extends Error {
  override name = 'ProcessorArgsError';
  readonly userFacing = true;
}

/** Defaults as LLaMA-Factory's DataArguments + parser: pt packs by default; explicit packing reserves one token. */
export function resolveProcessorArgs(args: ProcessorArgs, stage: Stage): ResolvedProcessorArgs {
  const cutoff = args.cutoff_len ?? 2048;
  if (!Number.isInteger(cutoff) || cutoff < 1) {
    throw new ProcessorArgsError(`cutoff_len must be a positive integer, got ${cutoff}`);
  }
  const maskHistory = args.mask_history ?? false;
  const trainOnPrompt = args.train_on_prompt ?? false;
  if (maskHistory && trainOnPrompt) {
    throw new ProcessorArgsError('`mask_history` is incompatible with `train_on_prompt`: set only one of them.');
  }
  const neatPacking = args.neat_packing ?? false;
  if (neatPacking && stage === 'pt') {
    throw new ProcessorArgsError('`neat_packing` is for sft only; pre-training packs with packing.');
  }
  const explicitPacking = args.packing === true || neatPacking;
  const packing = explicitPacking || ((args.packing === undefined || args.packing === null) && stage === 'pt');
  const batchSize = args.preprocessing_batch_size ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new ProcessorArgsError(`preprocessing_batch_size must be a positive integer, got ${batchSize}`);
  }
  // Upstream's DataArguments.__post_init__ takes one token off an explicit packing cutoff (a packed row is
  // cutoff_len + 1 long); pt's implicit packing is set later by the parser and keeps the full cutoff.
  const cutoffLen = explicitPacking ? cutoff - 1 : cutoff;
  if (cutoffLen < 1) throw new ProcessorArgsError('cutoff_len must be at least 2 with packing');
  return {
    cutoffLen,
    trainOnPrompt,
    maskHistory,
    packing,
    neatPacking,
    template: args.template ?? null,
    batchSize,
  };
}

/** Which processor tokenizes a stage's data (upstream's _get_dataset_processor). */
export function processorKindFor(stage: Stage, args: ResolvedProcessorArgs, doGenerate = false): ProcessorKind {
  if (stage === 'pt') return 'pretrain';
  if (stage === 'sft' && !doGenerate) return args.packing ? 'packed_supervised' : 'supervised';
  if (stage === 'rm' || stage === 'dpo') return 'pairwise';
  if (stage === 'kto') return 'feedback';
  return 'unsupervised';
}
