/**
 * Batches of tokenized records as flat Int32Arrays for the model, with the padding of HF's
 * DataCollatorForSeq2Seq as LLaMA-Factory configures it: right padding for training, left for generation, labels
 * padded with IGNORE_INDEX to their own longest length, optional pad_to_multiple_of.
 */

import { maxOf } from '../util/arrays.js';
import type { FeedbackRecord, PairwiseRecord, SupervisedRecord } from './processors/types.js';
import { IGNORE_INDEX } from './processors/types.js';

/** A row-major [B, T] int32 matrix. */
export interface IntMatrix {
  data: Int32Array;
  shape: [number, number];
}

export interface CollatedBatch {
  /** [B, T] token ids */
  inputIds: IntMatrix;
  /** [B, T] 1 for tokens, 0 for padding */
  attentionMask: IntMatrix;
  /** [B, L] target ids, IGNORE_INDEX where no loss; L = T except for generation batches */
  labels: IntMatrix;
  /** [B, T] packed rows only: positions restarting per packed sequence */
  positionIds?: IntMatrix;
  /** [B, T] neat packing only: 1-based sequence index per token, 0 on padding (attention stays in a segment) */
  segmentIds?: IntMatrix;
}

export interface FeedbackBatch extends CollatedBatch {
  klInputIds: IntMatrix;
  klAttentionMask: IntMatrix;
  klLabels: IntMatrix;
  /** [B] 1 desirable, 0 undesirable */
  ktoTags: Int32Array;
}

export interface CollatorOptions {
  padTokenId: number;
  /** 'right' for training (default), 'left' for generation */
  paddingSide?: 'left' | 'right';
  /** round the padded length up to a multiple of this (LLaMA-Factory uses 8 when training) */
  padToMultipleOf?: number | null;
  /** label padding; IGNORE_INDEX unless ignore_pad_token_for_loss is off */
  labelPadTokenId?: number;
  /** packed rows carry 1..k sequence indexes in attention_mask: emit them as segmentIds */
  neatPacking?: boolean;
  /** pre-training (HF DataCollatorForLanguageModeling): labels = input ids, with every pad id position ignored */
  languageModeling?: boolean;
}

function roundUp(n: number, multiple: number | null | undefined): number {
  return multiple ? Math.ceil(n / multiple) * multiple : n;
}

function padRows(rows: readonly (readonly number[])[], width: number, value: number, left: boolean): IntMatrix {
  const data = new Int32Array(rows.length * width).fill(value);
  rows.forEach((row, b) => {
    if (row.length > width) throw new RangeError(`row ${b} has ${row.length} tokens, more than the width ${width}`);
    data.set(row, b * width + (left ? width - row.length : 0));
  });
  return { data, shape: [rows.length, width] };
}

/** Pads supervised/pretrain/packed records (input_ids, attention_mask, labels, position_ids). */
export function collate(records: readonly SupervisedRecord[], options: CollatorOptions): CollatedBatch {
  if (records.length === 0) throw new RangeError('cannot collate an empty batch');
  const left = options.paddingSide === 'left';
  const labelPad = options.labelPadTokenId ?? IGNORE_INDEX;
  const width = roundUp(maxOf(records.map((r) => r.input_ids.length)), options.padToMultipleOf);
  const inputIds = padRows(
    records.map((r) => r.input_ids),
    width,
    options.padTokenId,
    left,
  );
  const masks = records.map((r) => r.attention_mask);
  let labels: IntMatrix;
  if (options.languageModeling) {
    labels = padRows(
      records.map((r) => r.input_ids.map((id) => (id === options.padTokenId ? IGNORE_INDEX : id))),
      width,
      IGNORE_INDEX,
      left,
    );
  } else {
    const labelWidth = roundUp(maxOf(records.map((r) => r.labels.length)), options.padToMultipleOf);
    labels = padRows(
      records.map((r) => r.labels),
      labelWidth,
      labelPad,
      left,
    );
  }
  const batch: CollatedBatch = {
    inputIds,
    attentionMask: padRows(
      options.neatPacking ? masks.map((m) => m.map((v) => (v > 0 ? 1 : 0))) : masks,
      width,
      0,
      left,
    ),
    labels,
  };
  if (records.some((r) => r.position_ids !== undefined)) {
    batch.positionIds = padRows(
      records.map((r) => r.position_ids ?? r.input_ids.map((_, i) => i)),
      width,
      0,
      left,
    );
  }
  if (options.neatPacking) batch.segmentIds = padRows(masks, width, 0, left);
  return batch;
}

/** Chosen rows then rejected rows in one batch of 2B (upstream's PairwiseDataCollatorWithPadding). */
export function collatePairwise(records: readonly PairwiseRecord[], options: CollatorOptions): CollatedBatch {
  const rows: SupervisedRecord[] = [];
  for (const r of records) {
    rows.push({ input_ids: r.chosen_input_ids, attention_mask: r.chosen_attention_mask, labels: r.chosen_labels });
  }
  for (const r of records) {
    rows.push({
      input_ids: r.rejected_input_ids,
      attention_mask: r.rejected_attention_mask,
      labels: r.rejected_labels,
    });
  }
  return collate(rows, options);
}

/** Target rows and KL rows padded separately, with the tags (upstream's KTODataCollatorWithPadding). */
export function collateFeedback(records: readonly FeedbackRecord[], options: CollatorOptions): FeedbackBatch {
  const target = collate(records, options);
  const kl = collate(
    records.map((r) => ({ input_ids: r.kl_input_ids, attention_mask: r.kl_attention_mask, labels: r.kl_labels })),
    options,
  );
  return {
    ...target,
    klInputIds: kl.inputIds,
    klAttentionMask: kl.attentionMask,
    klLabels: kl.labels,
    ktoTags: Int32Array.from(records, (r) => (r.kto_tags ? 1 : 0)),
  };
}
