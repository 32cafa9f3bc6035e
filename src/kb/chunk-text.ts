/** What of a chunk BM25 indexes: its heading path (titles carried into their chunks) and its text. */
import { createHash } from 'node:crypto';
import { words } from './words.js';

export function chunkWords(heading: string | null, text: string): string[] {
  return heading ? [...words(heading), ...words(text)] : words(text);
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
