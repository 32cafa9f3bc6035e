// `lmforge kb` with a BERT-family encoder and a cross-encoder reranker (tiny random checkpoints): add embeds the
// chunks with the sentence encoder, hybrid search uses the cached vectors, --rerank_model rescoring keeps
// rerank_top_n hits whose scores are the reranker's logits (in the order it gives).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CrossEncoderReranker } from '../../src/kb/encoders/reranker.js';
import { tempDir } from '../util/tokenizers.js';
import { writeTinyEncoder } from './tiny-encoders.js';

function lmforge(args: string[]) {
  const r = spawnSync(process.execPath, ['bin/lmforge.js', 'kb', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { out: r.stdout, err: r.stderr, code: r.status };
}

test('kb add/search with a BERT sentence encoder, then reranked by a cross-encoder', async () => {
  const dir = tempDir('kb-cli-enc');
  const encoder = writeTinyEncoder({ family: 'bert', pooling: 'cls' });
  const reranker = writeTinyEncoder({ family: 'xlm-roberta', classifier: true, seed: 5 });
  const texts = ['the cat sat on the mat.', 'the cat and the mat', 'hello world', 'the cat', 'a cat sat'];
  for (const [i, t] of texts.entries()) writeFileSync(join(dir, `d${i}.txt`), t);
  const kb = join(dir, 'kb.sqlite');
  assert.equal(lmforge(['create', kb, 'chunk_size=100', 'chunk_overlap=0']).code, 0);
  const added = lmforge(['add', kb, ...texts.map((_, i) => join(dir, `d${i}.txt`)), '--embedding_model', encoder.dir]);
  assert.equal(added.code, 0, added.err);
  assert.match(added.out, /embedded 5 chunks with /);

  const hybrid = lmforge(['search', kb, 'cat', '--retriever', 'hybrid', '--embedding_model', encoder.dir, '--json']);
  assert.equal(hybrid.code, 0, hybrid.err);
  assert.ok((JSON.parse(hybrid.out) as unknown[]).length > 0);

  const args = ['search', kb, 'cat', '--top_k', '5', '--score_threshold', '0', '--json'];
  const reranked = lmforge([...args, '--rerank_model', reranker.dir, '--rerank_top_n', '2']);
  assert.equal(reranked.code, 0, reranked.err);
  const hits = JSON.parse(reranked.out) as Array<{ text: string; score: number }>;
  assert.equal(hits.length, 2);
  const model = CrossEncoderReranker.load(reranker.dir);
  try {
    const candidates = (JSON.parse(lmforge(args).out) as Array<{ text: string }>).map((h) => h.text);
    const scores = await model.score('cat', candidates);
    const best = candidates.map((text, i) => ({ text, score: scores[i] as number })).sort((a, b) => b.score - a.score);
    assert.deepEqual(
      hits.map((h) => h.text),
      best.slice(0, 2).map((b) => b.text),
    );
    for (const [i, h] of hits.entries()) assert.ok(Math.abs(h.score - (best[i]?.score as number)) < 1e-6);
  } finally {
    await model.close();
  }
  const bad = lmforge([...args, '--rerank_model', encoder.dir]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /ForSequenceClassification/);
});
