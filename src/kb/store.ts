/**
 * One knowledge base = one SQLite file (better-sqlite3, WAL so readers search while an import writes):
 *
 *   meta(key, value)                 settings fixed at create (chunk_size, chunk_overlap, chunk_unit, schema)
 *   documents(id, path, format, hash, bytes, chunks, added_at)   one row per imported file, path unique
 *   chunks(id, document_id, seq, start, end, heading, page, text, hash, n_words)   [start, end) in the document
 *   chunk_words (FTS5, rowid = chunks.id)   the chunk's BM25 words (jieba / English pieces) joined by spaces;
 *                                   chunk_terms / chunk_postings (fts5vocab) read its document frequencies and
 *                                   term frequencies for scoring
 *   embeddings(hash, model, dim, vector)   float32 vectors cached by chunk-text hash and encoder name
 *
 * A document is replaced in one transaction (old chunks out, new ones in), so a killed import leaves every file
 * either as it was or fully re-imported, never half.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import type * as SqliteVec from 'sqlite-vec';
import { KbError } from './errors.js';

// Optional peer dependencies, loaded when a knowledge base is first opened: a server or board that mounts the
// knowledge-base routes starts without them (a missing one fails that request with the npm install line).
const require = createRequire(import.meta.url);
const sqlite = () => require('better-sqlite3') as typeof Database;
const sqliteVec = () => require('sqlite-vec') as typeof SqliteVec;

import type { ChunkSpan, Hit } from './types.js';

const SCHEMA_VERSION = '2';

export interface KbSettings {
  chunk_size: number;
  chunk_overlap: number;
  /** 'chars', or 'tokens' of the tokenizer in `tokenizer` (a model folder). */
  chunk_unit: 'chars' | 'tokens';
  tokenizer: string | null;
}

export interface DocumentInfo {
  id: number;
  path: string;
  format: string;
  hash: string;
  bytes: number;
  chunks: number;
  added_at: string;
}

export interface NewDocument {
  path: string;
  format: string;
  hash: string;
  bytes: number;
}

export interface NewChunk extends ChunkSpan {
  text: string;
  hash: string;
  /** BM25 words of the chunk (its heading included). */
  words: string[];
}

const TABLES = `
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(
  id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, format TEXT NOT NULL, hash TEXT NOT NULL,
  bytes INTEGER NOT NULL, chunks INTEGER NOT NULL, added_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks(
  id INTEGER PRIMARY KEY, document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, heading TEXT, page INTEGER,
  text TEXT NOT NULL, hash TEXT NOT NULL, n_words INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_words USING fts5(words, content='', contentless_delete=1,
  tokenize='unicode61 remove_diacritics 0');
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_terms USING fts5vocab(chunk_words, 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_postings USING fts5vocab(chunk_words, 'instance');
CREATE TABLE IF NOT EXISTS embeddings(
  hash TEXT NOT NULL, model TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY(hash, model));
`;

/**
 * Okapi BM25 with Lucene's IDF, ln(1 + (N - n + 0.5) / (n + 0.5)), which stays positive however small the
 * knowledge base (FTS5's own bm25() drops to ~0 for a word in half the chunks, so a threshold would mean different
 * things at different sizes); k1 = 1.2, b = 0.75. Computed inside SQLite from the FTS5 index: the postings of the
 * question's words only, grouped per chunk.
 */
const BM25_K1 = 1.2;
const BM25_B = 0.75;
const BM25_SQL = `
WITH q(term) AS (SELECT DISTINCT value FROM json_each(?)),
stats AS (SELECT count(*) AS n_chunks, coalesce(avg(n_words), 1) AS avg_words FROM chunks),
df AS (SELECT t.term, t.doc AS n FROM chunk_terms t JOIN q ON t.term = q.term),
tf AS (SELECT p.doc AS id, p.term, count(*) AS tf FROM chunk_postings p JOIN q ON p.term = q.term GROUP BY p.doc, p.term),
scored AS (
  SELECT tf.id, sum(ln(1 + (stats.n_chunks - df.n + 0.5) / (df.n + 0.5)) * tf.tf * ${BM25_K1 + 1} /
    (tf.tf + ${BM25_K1} * (${1 - BM25_B} + ${BM25_B} * c.n_words / stats.avg_words))) AS score
  FROM tf JOIN df ON df.term = tf.term JOIN chunks c ON c.id = tf.id, stats GROUP BY tf.id
  ORDER BY score DESC, tf.id LIMIT ?)
SELECT c.id, d.path AS source, c.start, c."end" AS "end", c.heading, c.page, c.text, scored.score
FROM scored JOIN chunks c ON c.id = scored.id JOIN documents d ON d.id = c.document_id ORDER BY scored.score DESC, c.id`;

export class KnowledgeBase {
  private constructor(
    readonly file: string,
    readonly db: Database.Database,
  ) {}

  /** A new, empty knowledge base at `file` (refused when one is there already). */
  static create(file: string, settings: KbSettings): KnowledgeBase {
    if (existsSync(file))
      throw new KbError(`${file}: a knowledge base already exists there (lmforge kb list shows it)`);
    mkdirSync(dirname(file), { recursive: true });
    const kb = new KnowledgeBase(file, KnowledgeBase.connect(file));
    kb.db.exec(TABLES);
    const put = kb.db.prepare('INSERT INTO meta(key, value) VALUES (?, ?)');
    kb.db.transaction(() => {
      put.run('schema', SCHEMA_VERSION);
      put.run('created_at', new Date().toISOString());
      for (const [k, v] of Object.entries(settings)) put.run(k, JSON.stringify(v));
    })();
    return kb;
  }

  static open(file: string, options: { readonly?: boolean } = {}): KnowledgeBase {
    if (!existsSync(file)) {
      throw new KbError(`${file}: no knowledge base there; create it with lmforge kb create <name>`);
    }
    const db = KnowledgeBase.connect(file, options.readonly);
    const kb = new KnowledgeBase(file, db);
    let schema: string | undefined;
    try {
      schema = kb.meta('schema');
    } catch {
      schema = undefined;
    }
    if (schema !== SCHEMA_VERSION) {
      db.close();
      throw new KbError(
        `${file}: not an lmforge knowledge base of this version (schema ${schema ?? 'missing'}, expected ${SCHEMA_VERSION}): create a new one and add the files again`,
      );
    }
    return kb;
  }

  private static connect(file: string, readonly = false): Database.Database {
    const db = new (sqlite())(file, { readonly, fileMustExist: readonly });
    db.pragma('busy_timeout = 10000');
    if (!readonly) db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    // vec_normalize / vec_distance_cosine for dense retrieval (the binary ships inside the npm package).
    sqliteVec().load(db);
    return db;
  }

  private meta(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  get settings(): KbSettings {
    const read = (k: string) => JSON.parse(this.meta(k) ?? 'null');
    return {
      chunk_size: read('chunk_size'),
      chunk_overlap: read('chunk_overlap'),
      chunk_unit: read('chunk_unit') ?? 'chars',
      tokenizer: read('tokenizer'),
    };
  }

  documents(): DocumentInfo[] {
    return this.db.prepare('SELECT * FROM documents ORDER BY path').all() as DocumentInfo[];
  }

  document(path: string): DocumentInfo | undefined {
    return this.db.prepare('SELECT * FROM documents WHERE path = ?').get(path) as DocumentInfo | undefined;
  }

  chunkCount(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM chunks').get() as { n: number }).n;
  }

  /** Puts a document in (replacing the one at the same path) with its chunks, in one transaction. */
  replaceDocument(doc: NewDocument, chunks: readonly NewChunk[]): 'added' | 'replaced' {
    const insertDoc = this.db.prepare(
      'INSERT INTO documents(path, format, hash, bytes, chunks, added_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const insertChunk = this.db.prepare(
      'INSERT INTO chunks(document_id, seq, start, "end", heading, page, text, hash, n_words) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const insertWords = this.db.prepare('INSERT INTO chunk_words(rowid, words) VALUES (?, ?)');
    return this.db.transaction(() => {
      const replaced = this.deleteDocument(doc.path);
      const id = insertDoc.run(doc.path, doc.format, doc.hash, doc.bytes, chunks.length, new Date().toISOString())
        .lastInsertRowid as number;
      chunks.forEach((c, seq) => {
        const chunkId = insertChunk.run(
          id,
          seq,
          c.start,
          c.end,
          c.heading,
          c.page,
          c.text,
          c.hash,
          c.words.length,
        ).lastInsertRowid;
        insertWords.run(chunkId, c.words.join(' '));
      });
      return replaced ? 'replaced' : 'added';
    })();
  }

  /** Removes a document and its chunks; false when there was none at that path. */
  removeDocument(path: string): boolean {
    return this.db.transaction(() => this.deleteDocument(path))();
  }

  private deleteDocument(path: string): boolean {
    const doc = this.document(path);
    if (!doc) return false;
    this.db.prepare('DELETE FROM chunk_words WHERE rowid IN (SELECT id FROM chunks WHERE document_id = ?)').run(doc.id);
    this.db.prepare('DELETE FROM documents WHERE id = ?').run(doc.id);
    return true;
  }

  /** The top k chunks by BM25 over their words (see BM25_SQL); higher is better, 0 shares no word. */
  searchWords(words: readonly string[], topK: number): Hit[] {
    if (words.length === 0) return [];
    // The index folds case as unicode61 does; the words are already lower-cased.
    return this.db.prepare(BM25_SQL).all(JSON.stringify(words), topK) as Hit[];
  }

  close(): void {
    this.db.close();
  }
}
