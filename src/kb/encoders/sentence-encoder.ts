/**
 * A sentence encoder (bge, text2vec, bge-m3) on lmforge's engine: tokenizer.json (WordPiece or Unigram, run by HF
 * tokenizers) -> BertEncoderModel -> CLS or mean pooling per the folder's sentence-transformers config -> L2 norm.
 * Implements the knowledge base's Encoder, so `--embedding_model <bge folder>` serves dense and hybrid retrieval.
 */
import { resolve } from 'node:path';
import { l2NormalizeRows, maskedMeanPool, noGrad, scope, takeRows } from '../../engine/index.js';
import { Tokenizer } from '../../tokenizer/index.js';
import type { Encoder } from '../dense.js';
import { BertEncoderModel, type EncoderBatch } from './bert-model.js';
import { type PoolingSettings, readPoolingSettings } from './pooling.js';

/** The input length cap: sentence_bert_config's max_seq_length, the tokenizer's and the position table's. */
export function tokenBudget(tokenizer: Tokenizer, model: BertEncoderModel, maxSeqLength: number | null): number {
  return Math.min(maxSeqLength ?? Number.POSITIVE_INFINITY, tokenizer.modelMaxLength, model.maxTokens);
}

export async function encodeBatch(
  tokenizer: Tokenizer,
  inputs: ReadonlyArray<readonly [string, string | null]>,
  maxLength: number,
): Promise<EncoderBatch> {
  const encoded = [];
  for (const [a, b] of inputs) encoded.push(await tokenizer.encodeForEncoder(a, b, maxLength));
  return { ids: encoded.map((e) => e.ids), typeIds: encoded.map((e) => e.typeIds) };
}

export class SentenceEncoder implements Encoder {
  readonly name: string;

  private constructor(
    private readonly model: BertEncoderModel,
    private readonly tokenizer: Tokenizer,
    readonly pooling: PoolingSettings,
  ) {
    this.name = resolve(model.dir);
  }

  static load(dir: string): SentenceEncoder {
    const tokenizer = Tokenizer.fromDir(dir);
    const model = BertEncoderModel.load(dir);
    try {
      return new SentenceEncoder(model, tokenizer, readPoolingSettings(dir));
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  /** Unit vectors [texts][C], in the order of texts. */
  async embed(texts: readonly string[]): Promise<{ vectors: number[][] }> {
    if (texts.length === 0) return { vectors: [] };
    const max = tokenBudget(this.tokenizer, this.model, this.pooling.maxSeqLength);
    const batch = await encodeBatch(
      this.tokenizer,
      texts.map((t) => [t, null] as const),
      max,
    );
    const values = noGrad(() =>
      scope(() => {
        const { hidden, mask } = this.model.hiddenStates(batch);
        const [b, t, c] = hidden.shape as [number, number, number];
        const pooled =
          this.pooling.mode === 'cls'
            ? takeRows(
                hidden.reshape([b * t, c]),
                Array.from({ length: b }, (_, i) => i * t),
              )
            : maskedMeanPool(hidden, mask);
        return l2NormalizeRows(pooled).toFloat32Array();
      }),
    );
    const c = this.model.config.hiddenSize;
    return { vectors: texts.map((_, i) => Array.from(values.subarray(i * c, (i + 1) * c))) };
  }

  async close(): Promise<void> {
    this.model.dispose();
  }
}
