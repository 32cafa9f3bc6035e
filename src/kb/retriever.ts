/**
 * Retrieval: BM25 (the default, no model), dense (an encoder's cosine similarity) or hybrid (both fused by
 * reciprocal rank). A chunk is kept when its score reaches the threshold, in the retriever's own units:
 * BM25 is unbounded (one rare word matched scores about ln(chunks), 2-7; a common one under 1: the default 1
 * drops chunks sharing only common words), dense is a cosine in [-1, 1] (default 0.5), hybrid fuses the lists
 * each filtered by its own default and keeps any fused score above the threshold (default 0). `kb search` shows
 * the scores to choose from.
 *
 * With a reranker (rerank_model) the retriever's top_k hits are candidates: a cross-encoder rescores each
 * (question, chunk) pair and the best rerank_top_n are kept, scored by its logit.
 */
import { type Encoder, embedMissing, fuseRankings, searchDense } from './dense.js';
import { type Reranker, rerankHits } from './encoders/reranker.js';
import { KbError } from './errors.js';
import type { KnowledgeBase } from './store.js';
import type { Hit } from './types.js';
import { words } from './words.js';

export type RetrieverKind = 'bm25' | 'dense' | 'hybrid';

export interface SearchOptions {
  topK: number;
  scoreThreshold: number;
}

export const DEFAULT_THRESHOLD: Record<RetrieverKind, number> = { bm25: 1, dense: 0.5, hybrid: 0 };

/** Candidates each ranking contributes to the fusion, per chunk asked for. */
const HYBRID_DEPTH = 4;

function checkTopK(topK: number): void {
  if (!Number.isInteger(topK) || topK < 1) throw new KbError(`top_k must be >= 1, got ${topK}`);
}

export function searchBm25(kb: KnowledgeBase, query: string, options: SearchOptions): Hit[] {
  checkTopK(options.topK);
  return kb.searchWords(words(query), options.topK).filter((h) => h.score >= options.scoreThreshold);
}

export interface RetrieverOptions {
  topK: number;
  scoreThreshold: number | null;
  encoder?: Encoder;
  /** A second stage over the first's top_k hits, keeping rerankTopN (default 3). */
  reranker?: Reranker;
  rerankTopN?: number;
}

/** Chunks a reranker keeps when rerank_top_n is not given. */
export const DEFAULT_RERANK_TOP_N = 3;

/** A question -> ranked hits function: the chosen retriever, then the reranker when one is given. */
export function makeRetriever(
  kb: KnowledgeBase,
  kind: RetrieverKind,
  options: RetrieverOptions,
): (question: string) => Promise<Hit[]> {
  const first = firstStage(kb, kind, options);
  const reranker = options.reranker;
  if (!reranker) return first;
  const topN = options.rerankTopN ?? DEFAULT_RERANK_TOP_N;
  if (!Number.isInteger(topN) || topN < 1) throw new KbError(`rerank_top_n must be >= 1, got ${topN}`);
  return async (q) => rerankHits(reranker, q, await first(q), topN);
}

/** The retriever itself (dense kinds embed missing chunks on first use). */
function firstStage(
  kb: KnowledgeBase,
  kind: RetrieverKind,
  options: RetrieverOptions,
): (question: string) => Promise<Hit[]> {
  checkTopK(options.topK);
  const threshold = options.scoreThreshold ?? DEFAULT_THRESHOLD[kind];
  if (kind === 'bm25') return async (q) => searchBm25(kb, q, { topK: options.topK, scoreThreshold: threshold });
  const encoder = options.encoder;
  if (!encoder)
    throw new KbError(`retriever=${kind} needs an encoder: give --embedding_model (or --model_name_or_path)`);
  let ready: Promise<number> | null = null;
  const dense = async (q: string, topK: number) => {
    ready ??= embedMissing(kb, encoder);
    await ready;
    return searchDense(kb, encoder, q, topK);
  };
  if (kind === 'dense') return async (q) => (await dense(q, options.topK)).filter((h) => h.score >= threshold);
  return async (q) => {
    const depth = options.topK * HYBRID_DEPTH;
    const lexical = searchBm25(kb, q, { topK: depth, scoreThreshold: DEFAULT_THRESHOLD.bm25 });
    const semantic = (await dense(q, depth)).filter((h) => h.score >= DEFAULT_THRESHOLD.dense);
    return fuseRankings([lexical, semantic], options.topK).filter((h) => h.score > threshold);
  };
}
