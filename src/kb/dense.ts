/**
 * Dense retrieval: chunks and questions embedded by an encoder (any lmforge causal LM through ChatModel.embed:
 * the last hidden state mean-pooled), vectors L2-normalised and cosine-compared by sqlite-vec inside SQLite.
 * Embeddings are cached by (chunk-text hash, encoder name): re-importing an unchanged chunk, or the same text
 * in another file, embeds nothing; a changed chunk has a new hash and is embedded again.
 *
 * Hybrid retrieval fuses the BM25 and dense rankings by reciprocal rank (score = sum of 1 / (60 + rank)).
 */
import type { KnowledgeBase } from './store.js';
import type { Hit } from './types.js';

export interface Encoder {
  /** Names the cache entries: the model folder, resolved. */
  readonly name: string;
  embed(texts: readonly string[]): Promise<{ vectors: number[][] }>;
}

/** Texts per embedding call: one padded batch each. */
const BATCH = 16;
/** Reciprocal-rank fusion's constant (Cormack et al. 2009). */
export const RRF_K = 60;

function blob(vector: readonly number[]): Buffer {
  const f = Float32Array.from(vector);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

/** Embeds the chunks that have no cached vector for this encoder; returns how many were embedded. */
export async function embedMissing(
  kb: KnowledgeBase,
  encoder: Encoder,
  onBatch?: (done: number, total: number) => void,
) {
  const missing = kb.db
    .prepare(
      `SELECT DISTINCT c.hash, c.text FROM chunks c
       WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.hash = c.hash AND e.model = ?)`,
    )
    .all(encoder.name) as Array<{ hash: string; text: string }>;
  // Similar lengths share a batch: each batch is padded to its longest text, so sorting saves the padding's work.
  missing.sort((a, b) => a.text.length - b.text.length);
  const put = kb.db.prepare(
    'INSERT OR REPLACE INTO embeddings(hash, model, dim, vector) VALUES (?, ?, ?, vec_normalize(?))',
  );
  for (let i = 0; i < missing.length; i += BATCH) {
    const batch = missing.slice(i, i + BATCH);
    const { vectors } = await encoder.embed(batch.map((c) => c.text));
    kb.db.transaction(() => {
      batch.forEach((c, j) => {
        const v = vectors[j] as number[];
        put.run(c.hash, encoder.name, v.length, blob(v));
      });
    })();
    onBatch?.(Math.min(i + BATCH, missing.length), missing.length);
  }
  return missing.length;
}

/** The top k chunks by cosine similarity to the question (chunks without a vector for this encoder are not seen). */
export async function searchDense(kb: KnowledgeBase, encoder: Encoder, question: string, topK: number): Promise<Hit[]> {
  const { vectors } = await encoder.embed([question]);
  return kb.db
    .prepare(
      `SELECT c.id, d.path AS source, c.start, c."end" AS "end", c.heading, c.page, c.text,
              1 - vec_distance_cosine(e.vector, vec_normalize(?)) AS score
       FROM chunks c JOIN embeddings e ON e.hash = c.hash AND e.model = ? JOIN documents d ON d.id = c.document_id
       ORDER BY score DESC, c.id LIMIT ?`,
    )
    .all(blob(vectors[0] as number[]), encoder.name, topK) as Hit[];
}

/** Reciprocal-rank fusion of rankings (each best first); the score is the fused one. */
export function fuseRankings(rankings: readonly (readonly Hit[])[], topK: number): Hit[] {
  const fused = new Map<number, Hit>();
  for (const ranking of rankings) {
    ranking.forEach((hit, i) => {
      const prior = fused.get(hit.id);
      fused.set(hit.id, { ...hit, score: (prior?.score ?? 0) + 1 / (RRF_K + i + 1) });
    });
  }
  return [...fused.values()].sort((a, b) => b.score - a.score || a.id - b.id).slice(0, topK);
}
