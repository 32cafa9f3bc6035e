/**
 * Retrieval: BM25 (the default, no model), dense (an encoder's cosine similarity) or hybrid (both fused by
 * reciprocal rank). A chunk is kept when its score reaches the threshold, in the retriever's own units:
 * BM25 is unbounded (one rare word matched scores about ln(chunks), 2-7; a common one under 1: the default 1
 * drops chunks sharing only common words), dense is a cosine in [-1, 1] (default 0.5), hybrid fuses the lists
 * each filtered by its own default and keeps any fused score above the threshold (default 0). `kb search` shows
 * the scores to choose from.
 */
import { type Encoder, embedMissing, fuseRankings, searchDense } from './dense.js';
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

/** A question -> ranked hits function for the chosen retriever (dense kinds embed missing chunks on first use). */
export function makeRetriever(
  kb: KnowledgeBase,
  kind: RetrieverKind,
  options: { topK: number; scoreThreshold: number | null; encoder?: Encoder },
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
