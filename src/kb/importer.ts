/**
 * `kb add`: files and folders into a knowledge base. Each file is read, split and written in its own
 * transaction; one that cannot be read or parsed is reported (path and reason) and skipped, and the import goes
 * on. A file whose bytes are unchanged since it was added is left as it is; a changed one replaces its chunks.
 */
import { readFileSync, statSync } from 'node:fs';
import { chunkWords, sha256 } from './chunk-text.js';
import { KbError } from './errors.js';
import { isSupported, listFiles, loadFile } from './loaders/index.js';
import { splitSections } from './splitter.js';
import type { KnowledgeBase, NewChunk } from './store.js';
import type { SpanMeasure } from './token-measure.js';

export interface ImportSplit {
  chunkSize: number;
  chunkOverlap: number;
  /** chunk_unit=tokens: the token measure of a document's text (characters when absent). */
  tokenCounter?: (text: string) => Promise<SpanMeasure>;
}

export type FileOutcome =
  | { path: string; status: 'added' | 'replaced'; chunks: number }
  | { path: string; status: 'unchanged' }
  | { path: string; status: 'failed'; reason: string };

export interface ImportReport {
  files: FileOutcome[];
  chunks: number;
  seconds: number;
}

export async function importPaths(
  kb: KnowledgeBase,
  paths: readonly string[],
  split: ImportSplit,
  onFile: (outcome: FileOutcome) => void = () => {},
): Promise<ImportReport> {
  const started = performance.now();
  const files: FileOutcome[] = [];
  let chunks = 0;
  const note = (o: FileOutcome) => {
    files.push(o);
    onFile(o);
  };
  for (const path of paths) {
    let listed: string[];
    try {
      listed = listFiles(path);
    } catch (e) {
      throw new KbError(
        `${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (e as Error).message}`,
      );
    }
    const single =
      listed.length === 1 && listed[0] !== undefined && statSync(listed[0]).isFile() && !statSync(path).isDirectory();
    for (const file of listed) {
      // Inside a folder, files of other kinds are passed over quietly; named on their own they are reported.
      if (!isSupported(file) && !single) continue;
      const outcome = await importFile(kb, file, split);
      if (outcome.status === 'added' || outcome.status === 'replaced') chunks += outcome.chunks;
      note(outcome);
    }
  }
  return { files, chunks, seconds: (performance.now() - started) / 1000 };
}

async function importFile(kb: KnowledgeBase, path: string, split: ImportSplit): Promise<FileOutcome> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    return { path, status: 'failed', reason: (e as Error).message };
  }
  const hash = sha256(bytes);
  if (kb.document(path)?.hash === hash) return { path, status: 'unchanged' };
  let chunks: NewChunk[];
  let format: string;
  try {
    const doc = await loadFile(path);
    format = doc.format;
    const measure = split.tokenCounter ? await split.tokenCounter(doc.text) : undefined;
    const options = { chunkSize: split.chunkSize, chunkOverlap: split.chunkOverlap, ...(measure ? { measure } : {}) };
    chunks = splitSections(doc.text, doc.sections, options).map((span) => {
      const text = doc.text.slice(span.start, span.end);
      return { ...span, text, hash: sha256(text), words: chunkWords(span.heading, text) };
    });
  } catch (e) {
    if (e instanceof KbError) throw e;
    return { path, status: 'failed', reason: (e as Error).message.split('\n')[0] ?? String(e) };
  }
  if (chunks.length === 0) return { path, status: 'failed', reason: 'no text in it (a scanned PDF has none)' };
  const status = kb.replaceDocument({ path, format, hash, bytes: bytes.length }, chunks);
  return { path, status, chunks: chunks.length };
}
