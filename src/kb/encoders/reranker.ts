/**
 * A cross-encoder reranker (bge-reranker: XLMRobertaForSequenceClassification; BertForSequenceClassification
 * cross-encoders): each (question, chunk) pair is read together as [CLS] q [SEP] d [SEP] (<s> q </s></s> d </s>),
 * the classification head's single logit is its relevance. It reorders the first stage's candidates and keeps the
 * best rerank_top_n; a hit's score becomes the raw logit (FlagEmbedding's compute_score without normalize).
 */
import { resolve } from 'node:path';
import { Tokenizer } from '../../tokenizer/index.js';
import { KbError } from '../errors.js';
import type { Hit } from '../types.js';
import { BertEncoderModel } from './bert-model.js';
import { encodeBatch, tokenBudget } from './sentence-encoder.js';

/** Pairs per forward: one padded batch each. */
const BATCH = 16;

export interface Reranker {
  readonly name: string;
  score(question: string, texts: readonly string[]): Promise<number[]>;
  close(): Promise<void>;
}

export class CrossEncoderReranker implements Reranker {
  readonly name: string;

  private constructor(
    private readonly model: BertEncoderModel,
    private readonly tokenizer: Tokenizer,
  ) {
    this.name = resolve(model.dir);
  }

  static load(dir: string): CrossEncoderReranker {
    const tokenizer = Tokenizer.fromDir(dir);
    const model = BertEncoderModel.load(dir);
    if (!model.head || model.config.numLabels !== 1) {
      model.dispose();
      throw new KbError(
        `${dir}: a reranker must be a *ForSequenceClassification checkpoint with one label (as bge-reranker), ` +
          `got ${model.config.architecture}${model.head ? ` with ${model.config.numLabels} labels` : ' without a classifier'}`,
      );
    }
    return new CrossEncoderReranker(model, tokenizer);
  }

  /** One relevance logit per text, in the order of texts. */
  async score(question: string, texts: readonly string[]): Promise<number[]> {
    const max = tokenBudget(this.tokenizer, this.model, null);
    const scores: number[] = [];
    for (let i = 0; i < texts.length; i += BATCH) {
      const pairs = texts.slice(i, i + BATCH).map((t) => [question, t] as const);
      const logits = this.model.classify(await encodeBatch(this.tokenizer, pairs, max));
      for (const row of logits) scores.push(row[0] as number);
    }
    return scores;
  }

  async close(): Promise<void> {
    this.model.dispose();
  }
}

/** The hits reordered by the reranker's scores (best first, ties by chunk id), the best topN kept. */
export async function rerankHits(
  reranker: Reranker,
  question: string,
  hits: readonly Hit[],
  topN: number,
): Promise<Hit[]> {
  if (!Number.isInteger(topN) || topN < 1) throw new KbError(`rerank_top_n must be >= 1, got ${topN}`);
  if (hits.length === 0) return [];
  const scores = await reranker.score(
    question,
    hits.map((h) => h.text),
  );
  return hits
    .map((h, i) => ({ ...h, score: scores[i] as number }))
    .sort((a, b) => b.score - a.score || a.id - b.id)
    .slice(0, topN);
}
