// Retrieval quality on the bundled knowledge base (issue #16 item 7): BM25 finds the chunk holding the known
// answer span in its top 5 for at least 90% of the 240 questions, Chinese and English each.
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { evaluateRetrieval, readQuestions } from '../../src/kb/evaluate.js';
import { importPaths } from '../../src/kb/importer.js';
import { searchBm25 } from '../../src/kb/retriever.js';
import { KnowledgeBase } from '../../src/kb/store.js';
import { tempDir } from '../util/tokenizers.js';

test('BM25 hit@5 >= 0.9 on examples/kb (zh and en)', async () => {
  const docs = resolve('examples/kb/docs');
  const questions = readQuestions(resolve('examples/kb/questions.jsonl'));
  assert.ok(questions.length >= 200, `${questions.length} questions`);
  const kb = KnowledgeBase.create(join(tempDir('kb-bundled'), 'kb.sqlite'), {
    chunk_size: 250,
    chunk_overlap: 50,
    chunk_unit: 'chars',
    tokenizer: null,
  });
  const report = await importPaths(kb, [docs], { chunkSize: 250, chunkOverlap: 50 });
  assert.equal(report.files.filter((f) => f.status === 'failed').length, 0);
  const search = (q: string) => searchBm25(kb, q, { topK: 10, scoreThreshold: 0 });
  for (const [name, subset] of [
    ['zh', questions.filter((q) => q.source.startsWith('poems/'))],
    ['en', questions.filter((q) => q.source.startsWith('brown/'))],
  ] as const) {
    assert.ok(subset.length >= 100, name);
    const scores = await evaluateRetrieval(subset, docs, search);
    assert.ok(scores.hitAt5 >= 0.9, `${name} hit@5 ${scores.hitAt5}`);
    assert.ok(scores.mrr <= scores.hitAt5 + 1e-9 || scores.hitAt5 === 1, 'MRR@10 cannot pass hit@5 by much');
    assert.ok(scores.hitAt1 <= scores.hitAt5);
  }
  kb.close();
});
