// The SQLite store and imports (issue #16 item 4): add, re-import (a changed file replaces its chunks, an
// unchanged one is left), remove, list; one bad file reported and skipped; a failed document write leaves the
// old version whole; a second connection reads while an import transaction is open.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { importPaths } from '../../src/kb/importer.js';
import { searchBm25 } from '../../src/kb/retriever.js';
import { KnowledgeBase } from '../../src/kb/store.js';
import { tempDir } from '../util/tokenizers.js';

const split = { chunkSize: 60, chunkOverlap: 10 };

function freshKb(dir: string): KnowledgeBase {
  return KnowledgeBase.create(join(dir, 'kb.sqlite'), {
    chunk_size: 60,
    chunk_overlap: 10,
    chunk_unit: 'chars',
    tokenizer: null,
  });
}

test('add a folder, re-import, remove; bad files reported and skipped; chunks keep source, span and heading', async () => {
  const dir = tempDir('kb-store');
  const docs = join(dir, 'docs');
  mkdirSync(join(docs, 'sub'), { recursive: true });
  writeFileSync(
    join(docs, 'a.md'),
    '# Rivers\n\nThe Yangtze is the longest river in Asia.\n\n# Cities\n\n北京是中国的首都。\n',
  );
  writeFileSync(join(docs, 'sub', 'b.txt'), 'Photosynthesis turns light into sugar.');
  writeFileSync(join(docs, 'sub', 'c.json'), '{ not json');
  writeFileSync(join(docs, 'image.png'), 'ignored: not a document format');
  writeFileSync(join(docs, '.hidden.txt'), 'hidden files are skipped');
  const kb = freshKb(dir);
  const first = await importPaths(kb, [docs], split);
  assert.deepEqual(
    first.files.map((f) => [f.path.slice(docs.length + 1), f.status]),
    [
      ['a.md', 'added'],
      ['sub/b.txt', 'added'],
      ['sub/c.json', 'failed'],
    ],
  );
  const failed = first.files[2] as { reason: string };
  assert.match(failed.reason, /not valid JSON/);
  assert.deepEqual(
    kb.documents().map((d) => [d.path.slice(docs.length + 1), d.format]),
    [
      ['a.md', 'md'],
      ['sub/b.txt', 'txt'],
    ],
  );

  const [hit] = searchBm25(kb, '首都是哪里', { topK: 3, scoreThreshold: 0 });
  assert.equal(hit?.source, join(docs, 'a.md'));
  assert.equal(hit?.heading, 'Cities');
  assert.equal(hit?.text, '# Cities\n\n北京是中国的首都。');
  const md = '# Rivers\n\nThe Yangtze is the longest river in Asia.\n\n# Cities\n\n北京是中国的首都。\n';
  assert.equal(md.slice(hit!.start, hit!.end), hit!.text, 'the span is where the text is in the file');
  assert.equal(
    searchBm25(kb, 'longest rivers', { topK: 1, scoreThreshold: 0 })[0]?.heading,
    'Rivers',
    'stemmed words meet',
  );

  // Unchanged files are left; a changed one replaces its chunks.
  const again = await importPaths(kb, [docs], split);
  assert.deepEqual(
    again.files.map((f) => f.status),
    ['unchanged', 'unchanged', 'failed'],
  );
  writeFileSync(join(docs, 'sub', 'b.txt'), 'Chlorophyll absorbs red and blue light.');
  const changed = await importPaths(kb, [join(docs, 'sub', 'b.txt')], split);
  assert.equal(changed.files[0]?.status, 'replaced');
  assert.equal(searchBm25(kb, 'photosynthesis', { topK: 3, scoreThreshold: 0 }).length, 0, 'old chunks are gone');
  assert.equal(searchBm25(kb, 'chlorophyll', { topK: 3, scoreThreshold: 0 }).length, 1);

  assert.equal(kb.removeDocument(join(docs, 'a.md')), true);
  assert.equal(kb.removeDocument(join(docs, 'a.md')), false);
  assert.equal(searchBm25(kb, '北京', { topK: 3, scoreThreshold: 0 }).length, 0);
  assert.equal(kb.documents().length, 1);
  assert.equal(kb.chunkCount(), 1);
  kb.close();
});

test('a document write that fails midway leaves the previous version whole (one transaction)', () => {
  const dir = tempDir('kb-atomic');
  const kb = freshKb(dir);
  const chunk = (text: string) => ({
    start: 0,
    end: text.length,
    heading: null,
    page: null,
    text,
    hash: text,
    words: [text],
  });
  kb.replaceDocument({ path: '/d.txt', format: 'txt', hash: 'h1', bytes: 3 }, [chunk('old')]);
  const broken = { ...chunk('new'), text: null as unknown as string }; // NOT NULL fails on the second chunk
  assert.throws(() =>
    kb.replaceDocument({ path: '/d.txt', format: 'txt', hash: 'h2', bytes: 3 }, [chunk('new'), broken]),
  );
  assert.equal(kb.document('/d.txt')?.hash, 'h1');
  assert.deepEqual(
    kb.searchWords(['old'], 5).map((h) => h.text),
    ['old'],
  );
  assert.equal(kb.searchWords(['new'], 5).length, 0);
  kb.close();
});

test('a reader sees the last committed state while an import transaction is open', () => {
  const dir = tempDir('kb-wal');
  const writer = freshKb(dir);
  const chunk = (text: string) => ({ start: 0, end: 1, heading: null, page: null, text, hash: text, words: [text] });
  writer.replaceDocument({ path: '/a.txt', format: 'txt', hash: 'a', bytes: 1 }, [chunk('alpha')]);
  const reader = KnowledgeBase.open(join(dir, 'kb.sqlite'), { readonly: true });
  writer.db.exec('BEGIN IMMEDIATE');
  writer.db
    .prepare(
      "INSERT INTO documents(path, format, hash, bytes, chunks, added_at) VALUES ('/b.txt', 'txt', 'b', 1, 0, '')",
    )
    .run();
  assert.deepEqual(
    reader.documents().map((d) => d.path),
    ['/a.txt'],
    'the uncommitted document is not seen, and reading does not block',
  );
  writer.db.exec('COMMIT');
  assert.equal(reader.documents().length, 2);
  reader.close();
  writer.close();
});

test('opening a missing or foreign file is a user error saying what to do', () => {
  const dir = tempDir('kb-open');
  assert.throws(() => KnowledgeBase.open(join(dir, 'none.sqlite')), /lmforge kb create/);
  writeFileSync(join(dir, 'other.sqlite'), '');
  assert.throws(() => KnowledgeBase.open(join(dir, 'other.sqlite')), /not an lmforge knowledge base/);
  const kb = freshKb(dir);
  kb.close();
  assert.throws(() => freshKb(dir), /already exists/);
});
