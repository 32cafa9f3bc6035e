/**
 * Retrieval: the question's BM25 words against the knowledge base's index, the top k kept when their score
 * reaches the threshold. BM25 scores are not bounded: 0 keeps every chunk sharing a word with the question,
 * and a few points (a rare word matched) is a sensible floor; `kb search` shows the scores to choose from.
 */
import { KbError } from './errors.js';
import type { KnowledgeBase } from './store.js';
import type { Hit } from './types.js';
import { words } from './words.js';

export interface SearchOptions {
  topK: number;
  scoreThreshold: number;
}

export function searchBm25(kb: KnowledgeBase, query: string, options: SearchOptions): Hit[] {
  if (!Number.isInteger(options.topK) || options.topK < 1) throw new KbError(`top_k must be >= 1, got ${options.topK}`);
  return kb.searchWords(words(query), options.topK).filter((h) => h.score >= options.scoreThreshold);
}
