/**
 * Retrieval quality on questions whose answers are known spans: a question is answered at rank r when the r-th
 * chunk comes from its source file and overlaps its answer span. Reports hit@1, hit@5, MRR (over the top
 * `depth`) and the query latency.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Hit } from './types.js';

export interface SpanQuestion {
  question: string;
  /** The answer's file, relative to the documents folder. */
  source: string;
  start: number;
  end: number;
  answer: string;
}

export interface RetrievalScores {
  questions: number;
  hitAt1: number;
  hitAt5: number;
  mrr: number;
  /** Mean and 95th-percentile milliseconds per query. */
  meanMs: number;
  p95Ms: number;
}

export function readQuestions(file: string): SpanQuestion[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as SpanQuestion);
}

/** 1-based rank of the first hit that holds the answer, or null. */
export function answerRank(hits: readonly Hit[], q: SpanQuestion, docsRoot: string): number | null {
  const source = resolve(docsRoot, q.source);
  const i = hits.findIndex((h) => h.source === source && h.start < q.end && h.end > q.start);
  return i < 0 ? null : i + 1;
}

export async function evaluateRetrieval(
  questions: readonly SpanQuestion[],
  docsRoot: string,
  search: (question: string) => Hit[] | Promise<Hit[]>,
): Promise<RetrievalScores> {
  let hit1 = 0;
  let hit5 = 0;
  let rr = 0;
  const ms: number[] = [];
  for (const q of questions) {
    const started = performance.now();
    const hits = await search(q.question);
    ms.push(performance.now() - started);
    const rank = answerRank(hits, q, docsRoot);
    if (rank === null) continue;
    if (rank === 1) hit1++;
    if (rank <= 5) hit5++;
    rr += 1 / rank;
  }
  const n = questions.length;
  ms.sort((a, b) => a - b);
  return {
    questions: n,
    hitAt1: hit1 / n,
    hitAt5: hit5 / n,
    mrr: rr / n,
    meanMs: ms.reduce((a, b) => a + b, 0) / n,
    p95Ms: ms[Math.min(n - 1, Math.floor(n * 0.95))] ?? 0,
  };
}
