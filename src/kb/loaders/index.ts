/**
 * Which loader reads a file (by extension), and the files a path names: a file, or every file under a folder
 * (recursively, hidden files and folders skipped, in sorted order so imports are repeatable).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import type { LoadedDocument } from '../types.js';
import { loadDocx } from './docx.js';
import { loadHtml } from './html.js';
import { loadPdf } from './pdf.js';
import { loadCsv, loadJson, loadJsonl } from './records.js';
import { loadMarkdown, loadTxt } from './text.js';

type Loader = (bytes: Uint8Array) => LoadedDocument | Promise<LoadedDocument>;

const LOADERS: Record<string, Loader> = {
  '.txt': loadTxt,
  '.text': loadTxt,
  '.md': loadMarkdown,
  '.markdown': loadMarkdown,
  '.html': loadHtml,
  '.htm': loadHtml,
  '.csv': loadCsv,
  '.json': loadJson,
  '.jsonl': loadJsonl,
  '.pdf': loadPdf,
  '.docx': loadDocx,
};

export const SUPPORTED_EXTENSIONS = Object.keys(LOADERS);

export function isSupported(path: string): boolean {
  return extname(path).toLowerCase() in LOADERS;
}

/** Reads and parses one file; throws (with the parser's reason) when it cannot. */
export async function loadFile(path: string): Promise<LoadedDocument> {
  const loader = LOADERS[extname(path).toLowerCase()];
  if (!loader) throw new Error(`unsupported format (supported: ${SUPPORTED_EXTENSIONS.join(' ')})`);
  return loader(readFileSync(path));
}

/** The absolute paths of the files `path` names (itself, or the files under it). */
export function listFiles(path: string): string[] {
  const abs = resolve(path);
  if (!statSync(abs).isDirectory()) return [abs];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) out.push(full);
    }
  };
  walk(abs);
  return out;
}
