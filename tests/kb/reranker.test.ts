// The cross-encoder reranker (issue #16 item 3): Bert/XLMRobertaForSequenceClassification scores of
// (question, chunk) pairs vs a float64 reference, and the optional stage after retrieval (rerank_top_n).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { CrossEncoderReranker } from '../../src/kb/encoders/reranker.js';
import { makeRetriever } from '../../src/kb/retriever.js';
import { KnowledgeBase } from '../../src/kb/store.js';
import { words } from '../../src/kb/words.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { tempDir } from '../util/tokenizers.js';
import { referenceScore } from './encoder-reference.js';
import { writeTinyEncoder } from './tiny-encoders.js';

const CHUNKS = ['the cat sat on the mat.', 'hello world', 'the mat sat on the cat', 'cat cat cat', 'unbelievable cat'];

for (const family of ['bert', 'xlm-roberta'] as const) {
  test(`${family} cross-encoder scores pairs as the float64 reference of its classification head`, async () => {
    const tiny = writeTinyEncoder({ family, classifier: true, seed: 11 });
    const reranker = CrossEncoderReranker.load(tiny.dir);
    const tokenizer = Tokenizer.fromDir(tiny.dir);
    try {
      const scores = await reranker.score('where is the cat', CHUNKS);
      for (const [i, chunk] of CHUNKS.entries()) {
        const { ids, typeIds } = await tokenizer.encodeForEncoder('where is the cat', chunk, 512);
        const want = referenceScore(tiny, ids, typeIds, family);
        assert.ok(Math.abs((scores[i] as number) - want) < 2e-5, `"${chunk}": got ${scores[i]}, want ${want}`);
      }
      assert.ok(new Set(scores.map((s) => s.toFixed(6))).size > 1, 'random weights still tell pairs apart');
    } finally {
      await reranker.close();
    }
  });
}

test('with a reranker, the top_k retrieved chunks are reordered by its scores and rerank_top_n kept', async () => {
  const tiny = writeTinyEncoder({ family: 'bert', classifier: true, seed: 3 });
  const reranker = CrossEncoderReranker.load(tiny.dir);
  const kb = KnowledgeBase.create(join(tempDir('kb-rerank'), 'kb.sqlite'), {
    chunk_size: 200,
    chunk_overlap: 0,
    chunk_unit: 'chars',
    tokenizer: null,
  });
  try {
    CHUNKS.forEach((text, i) => {
      const chunk = { start: 0, end: text.length, heading: null, page: null, text, hash: text, words: words(text) };
      kb.replaceDocument({ path: `/doc${i}.txt`, format: 'txt', hash: text, bytes: text.length }, [chunk]);
    });
    const question = 'cat';
    const first = await makeRetriever(kb, 'bm25', { topK: 4, scoreThreshold: 0 })(question);
    assert.equal(first.length, 4);
    const scores = await reranker.score(
      question,
      first.map((h) => h.text),
    );
    const order = first.map((h, i) => ({ text: h.text, s: scores[i] as number })).sort((a, b) => b.s - a.s);
    const reranked = await makeRetriever(kb, 'bm25', { topK: 4, scoreThreshold: 0, reranker, rerankTopN: 2 })(question);
    assert.deepEqual(
      reranked.map((h) => h.text),
      order.slice(0, 2).map((o) => o.text),
    );
    assert.deepEqual(
      reranked.map((h) => h.score),
      order.slice(0, 2).map((o) => o.s),
      "a hit's score is the reranker's logit",
    );
    assert.throws(
      () => makeRetriever(kb, 'bm25', { topK: 4, scoreThreshold: 0, reranker, rerankTopN: 0 }),
      /rerank_top_n/,
    );
  } finally {
    kb.close();
    await reranker.close();
  }
});

test('a checkpoint without a classification head is refused as a reranker', () => {
  const tiny = writeTinyEncoder({ family: 'xlm-roberta' });
  assert.throws(() => CrossEncoderReranker.load(tiny.dir), /ForSequenceClassification/);
});
