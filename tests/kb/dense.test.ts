// Dense and hybrid retrieval (issue #16 items 3, 4): vectors cached by (chunk hash, encoder), cosine ranking by
// sqlite-vec, reciprocal-rank fusion, and the real tiny model as an encoder through the CLI's retriever.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { embedMissing, fuseRankings, RRF_K, searchDense } from '../../src/kb/dense.js';
import { makeRetriever } from '../../src/kb/retriever.js';
import { KnowledgeBase } from '../../src/kb/store.js';
import type { Hit } from '../../src/kb/types.js';
import { tempDir } from '../util/tokenizers.js';

/** Vectors from a fixed table (unknown texts embed as [0, 0, 1]); counts every text it embeds. */
class TableEncoder {
  readonly embedded: string[] = [];
  constructor(
    readonly name: string,
    private readonly table: Record<string, number[]>,
  ) {}
  async embed(texts: readonly string[]) {
    this.embedded.push(...texts);
    return { vectors: texts.map((t) => this.table[t] ?? [0, 0, 1]) };
  }
}

function kbWith(texts: Record<string, string>): KnowledgeBase {
  const kb = KnowledgeBase.create(join(tempDir('kb-dense'), 'kb.sqlite'), {
    chunk_size: 100,
    chunk_overlap: 0,
    chunk_unit: 'chars',
    tokenizer: null,
  });
  for (const [path, text] of Object.entries(texts)) {
    const chunk = { start: 0, end: text.length, heading: null, page: null, text, hash: `h:${text}`, words: [text] };
    kb.replaceDocument({ path, format: 'txt', hash: path, bytes: text.length }, [chunk]);
  }
  return kb;
}

test('cosine ranking over normalised vectors; embeddings cached per chunk hash and encoder', async () => {
  const kb = kbWith({ '/a': 'alpha', '/b': 'beta', '/c': 'alpha' });
  const table = { alpha: [3, 4, 0], beta: [0, 5, 0], 'q-alpha': [6, 8, 0] };
  const encoder = new TableEncoder('enc-1', table);
  assert.equal(await embedMissing(kb, encoder), 2, "two distinct chunk texts: /c reuses /a's vector");
  assert.equal(await embedMissing(kb, encoder), 0, 'nothing left to embed');
  const hits = await searchDense(kb, encoder, 'q-alpha', 3);
  assert.deepEqual(
    hits.map((h) => h.source),
    ['/a', '/c', '/b'],
  );
  assert.ok(Math.abs(hits[0]!.score - 1) < 1e-6, 'same direction: cosine 1');
  assert.ok(Math.abs(hits[2]!.score - 0.8) < 1e-6, 'cos([3,4,0], [0,5,0]) = 0.8');

  const other = new TableEncoder('enc-2', table);
  assert.equal(await embedMissing(kb, other), 2, 'another encoder has its own cache entries');
  // A re-imported document with a changed chunk embeds only the new text.
  const text = 'gamma';
  kb.replaceDocument({ path: '/b', format: 'txt', hash: 'b2', bytes: 5 }, [
    { start: 0, end: 5, heading: null, page: null, text, hash: `h:${text}`, words: [text] },
  ]);
  encoder.embedded.length = 0;
  assert.equal(await embedMissing(kb, encoder), 1);
  assert.deepEqual(encoder.embedded, ['gamma']);
  kb.close();
});

test('reciprocal-rank fusion adds 1 / (60 + rank) over the rankings', () => {
  const hit = (id: number): Hit => ({
    id,
    source: `/${id}`,
    start: 0,
    end: 1,
    heading: null,
    page: null,
    text: '',
    score: 0,
  });
  const fused = fuseRankings(
    [
      [hit(1), hit(2), hit(3)],
      [hit(3), hit(4)],
    ],
    3,
  );
  assert.deepEqual(
    fused.map((h) => h.id),
    [3, 1, 2],
  );
  assert.ok(Math.abs(fused[0]!.score - (1 / (RRF_K + 3) + 1 / (RRF_K + 1))) < 1e-12);
  assert.ok(Math.abs(fused[1]!.score - 1 / (RRF_K + 1)) < 1e-12);
});

test('dense and hybrid retrievers: thresholds in their own units, an encoder required', async () => {
  const kb = kbWith({ '/a': 'alpha', '/b': 'beta' });
  const encoder = new TableEncoder('enc', { alpha: [1, 0, 0], beta: [0, 1, 0], beta_q: [0.1, 1, 0] });
  const dense = makeRetriever(kb, 'dense', { topK: 2, scoreThreshold: null, encoder });
  assert.deepEqual(
    (await dense('beta_q')).map((h) => h.source),
    ['/b'],
    'cos 0.0995 with alpha is under the dense default 0.5',
  );
  const hybrid = makeRetriever(kb, 'hybrid', { topK: 2, scoreThreshold: null, encoder });
  const fused = await hybrid('beta_q');
  assert.equal(fused[0]?.source, '/b');
  assert.throws(() => makeRetriever(kb, 'dense', { topK: 2, scoreThreshold: null }), /needs an encoder/);
  kb.close();
});
