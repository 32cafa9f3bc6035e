/**
 * `npm run bench -- kb [--json] [chunk_size=250 chunk_overlap=50] [embedding_model=DIR] [rerank_model=DIR]`: the bundled knowledge
 * base (examples/kb: 70 poem files, 30 Brown passages, 240 questions with known answer spans) imported into a
 * fresh SQLite file, then every question retrieved: hit@1, hit@5 and MRR@10 for BM25 (zh and en apart and
 * together), import throughput (chunks/s, jieba and SQLite included) and query latency; with embedding_model
 * (a BERT/XLM-R sentence encoder such as bge, or a causal LM mean-pooled), dense and hybrid (reciprocal-rank
 * fusion) too, and the embedding rate; with rerank_model (a cross-encoder such as bge-reranker), BM25's top 20
 * reranked. Rows name the model folder: a tiny random checkpoint's rows measure nothing but the plumbing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { embedMissing, fuseRankings, searchDense } from '../src/kb/dense.js';
import { openEncoder, openReranker } from '../src/kb/encoders/open-encoder.js';
import { rerankHits } from '../src/kb/encoders/reranker.js';
import { evaluateRetrieval, type RetrievalScores, readQuestions } from '../src/kb/evaluate.js';
import { importPaths } from '../src/kb/importer.js';
import { DEFAULT_THRESHOLD, searchBm25 } from '../src/kb/retriever.js';
import { KnowledgeBase } from '../src/kb/store.js';
import type { Hit } from '../src/kb/types.js';
import { words } from '../src/kb/words.js';

export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const setting = (name: string, def: number) =>
    Number(args.find((a) => a.startsWith(`${name}=`))?.split('=')[1] ?? def);
  const chunkSize = setting('chunk_size', 250);
  const chunkOverlap = setting('chunk_overlap', 50);
  const docs = resolve('examples/kb/docs');
  const questions = readQuestions(resolve('examples/kb/questions.jsonl'));
  const dir = mkdtempSync(join(tmpdir(), 'lmforge-bench-kb-'));
  try {
    words('预热'); // jieba's dictionary loads once per process: not part of the import rate
    const kb = KnowledgeBase.create(join(dir, 'bench.sqlite'), {
      chunk_size: chunkSize,
      chunk_overlap: chunkOverlap,
      chunk_unit: 'chars',
      tokenizer: null,
    });
    const report = await importPaths(kb, [docs], { chunkSize, chunkOverlap });
    const search = (q: string) => searchBm25(kb, q, { topK: 10, scoreThreshold: 0 });
    const zh = questions.filter((q) => q.source.startsWith('poems/'));
    const en = questions.filter((q) => !q.source.startsWith('poems/'));
    const rows: Array<[string, RetrievalScores]> = [
      ['bm25 zh', await evaluateRetrieval(zh, docs, search)],
      ['bm25 en', await evaluateRetrieval(en, docs, search)],
      ['bm25 all', await evaluateRetrieval(questions, docs, search)],
    ];
    let embedding: { model: string; chunks: number; seconds: number } | null = null;
    const encoderDir = args.find((a) => a.startsWith('embedding_model='))?.split('=')[1];
    if (encoderDir) {
      const encoder = openEncoder(encoderDir);
      const label = basename(resolve(encoderDir));
      const started = performance.now();
      const n = await embedMissing(kb, encoder);
      embedding = { model: encoderDir, chunks: n, seconds: (performance.now() - started) / 1000 };
      const dense = (q: string) => searchDense(kb, encoder, q, 10);
      const hybrid = async (q: string): Promise<Hit[]> => {
        const lexical = searchBm25(kb, q, { topK: 40, scoreThreshold: DEFAULT_THRESHOLD.bm25 });
        return fuseRankings([lexical, await searchDense(kb, encoder, q, 40)], 10);
      };
      rows.push([`dense all (${label})`, await evaluateRetrieval(questions, docs, dense)]);
      rows.push([`hybrid all (${label})`, await evaluateRetrieval(questions, docs, hybrid)]);
      await encoder.close();
    }
    const rerankDir = args.find((a) => a.startsWith('rerank_model='))?.split('=')[1];
    if (rerankDir) {
      const reranker = openReranker(rerankDir);
      const reranked = async (q: string) =>
        rerankHits(reranker, q, searchBm25(kb, q, { topK: 20, scoreThreshold: 0 }), 10);
      rows.push([
        `bm25 top 20 + rerank all (${basename(resolve(rerankDir))})`,
        await evaluateRetrieval(questions, docs, reranked),
      ]);
      await reranker.close();
    }
    const importInfo = {
      files: report.files.length,
      chunks: report.chunks,
      seconds: report.seconds,
      chunksPerSecond: report.chunks / report.seconds,
      chunkSize,
      chunkOverlap,
    };
    kb.close();
    if (json) {
      console.log(JSON.stringify({ import: importInfo, embedding, retrieval: Object.fromEntries(rows) }, null, 2));
      return;
    }
    console.log(
      `import: ${importInfo.files} files, ${importInfo.chunks} chunks in ${importInfo.seconds.toFixed(2)} s ` +
        `(${importInfo.chunksPerSecond.toFixed(0)} chunks/s; chunk_size=${chunkSize} chunk_overlap=${chunkOverlap})`,
    );
    if (embedding) {
      console.log(
        `embedding: ${embedding.chunks} chunks with ${embedding.model} in ${embedding.seconds.toFixed(1)} s ` +
          `(${(embedding.chunks / embedding.seconds).toFixed(0)} chunks/s)`,
      );
    }
    console.log('| retriever | questions | hit@1 | hit@5 | MRR@10 | mean ms | p95 ms |');
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const [name, s] of rows) {
      console.log(
        `| ${name} | ${s.questions} | ${s.hitAt1.toFixed(3)} | ${s.hitAt5.toFixed(3)} | ${s.mrr.toFixed(3)} | ` +
          `${s.meanMs.toFixed(2)} | ${s.p95Ms.toFixed(2)} |`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
