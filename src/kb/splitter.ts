/**
 * Recursive splitter over character spans: a section longer than chunk_size is cut at the coarsest boundary that
 * exists in it (blank line, line end, sentence end in Chinese 。！？；… or English .!?; before a space, clause
 * mark, space, and at last anywhere), pieces still too long are cut at the next finer boundary, and neighbours are
 * merged back into chunks of at most chunk_size, the next chunk starting up to chunk_overlap before the previous
 * one ended. Chunks are [start, end) offsets into the document text, so every chunk keeps its exact span, and
 * never cross a section (heading or page).
 */
import { KbError } from './errors.js';
import type { ChunkSpan, Section } from './types.js';

export interface SplitOptions {
  chunkSize: number;
  chunkOverlap: number;
  /** Length of text[start, end) in the unit chunk_size counts (characters by default; a tokenizer's tokens). */
  measure?: (start: number, end: number) => number;
}

/** Boundaries, coarsest first: each returns the offsets (within the text) a piece may end at. */
const BOUNDARIES: RegExp[] = [
  /\n[ \t]*\n+/g,
  /\n/g,
  /[。！？；]+[”’」』）)]*|…+[”’」』]*|[.!?;]+["')\]]*(?=\s)/g,
  /[，、,：:]/g,
  /\s+/g,
];

export function splitSections(text: string, sections: readonly Section[], options: SplitOptions): ChunkSpan[] {
  const { chunkSize, chunkOverlap } = options;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new KbError(`chunk_size must be >= 1, got ${chunkSize}`);
  if (!Number.isInteger(chunkOverlap) || chunkOverlap < 0 || chunkOverlap >= chunkSize) {
    throw new KbError(`chunk_overlap must be >= 0 and below chunk_size (${chunkSize}), got ${chunkOverlap}`);
  }
  const length = options.measure ?? ((start: number, end: number) => end - start);
  const out: ChunkSpan[] = [];
  for (const section of sections) {
    const pieces = cut(text, section.start, section.end, 0, chunkSize, length);
    for (const [start, end] of merge(pieces, chunkSize, chunkOverlap, length)) {
      const [s, e] = trim(text, start, end);
      if (e > s) out.push({ start: s, end: e, heading: section.heading, page: section.page });
    }
  }
  return out;
}

type Span = [number, number];
type Measure = (start: number, end: number) => number;

/** [start, end) cut into pieces no longer than size, at the coarsest boundaries that do the job. */
function cut(text: string, start: number, end: number, level: number, size: number, length: Measure) {
  if (length(start, end) <= size) return [[start, end] as Span];
  if (level >= BOUNDARIES.length) return hardCut(start, end, size, length);
  const ends: number[] = [];
  const re = new RegExp(BOUNDARIES[level]!.source, 'g');
  const slice = text.slice(start, end);
  for (const m of slice.matchAll(re)) {
    const at = start + m.index + m[0].length;
    if (at > start && at < end) ends.push(at);
  }
  if (ends.length === 0) return cut(text, start, end, level + 1, size, length);
  const out: Span[] = [];
  let from = start;
  for (const at of [...ends, end]) {
    if (at <= from) continue;
    out.push(...cut(text, from, at, level + 1, size, length));
    from = at;
  }
  return out;
}

/** No boundary left: fixed-size pieces (in the length unit, found by bisection for token lengths). */
function hardCut(start: number, end: number, size: number, length: Measure): Span[] {
  const out: Span[] = [];
  let from = start;
  while (from < end) {
    let lo = from + 1;
    let hi = end;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (length(from, mid) <= size) lo = mid;
      else hi = mid - 1;
    }
    out.push([from, lo]);
    from = lo;
  }
  return out;
}

/** Neighbouring pieces joined into chunks of at most size, each next chunk re-taking up to overlap of the last. */
function merge(pieces: Span[], size: number, overlap: number, length: Measure): Span[] {
  const out: Span[] = [];
  let first = 0;
  for (let i = 0; i < pieces.length; i++) {
    const end = pieces[i]![1];
    if (i > first && length(pieces[first]![0], end) > size) {
      out.push([pieces[first]![0], pieces[i - 1]![1]]);
      // The next chunk starts at the latest pieces that fit in the overlap and leave room for piece i.
      let next = i;
      while (next - 1 > first) {
        const start = pieces[next - 1]![0];
        const kept = length(start, pieces[i - 1]![1]);
        if (kept > overlap || length(start, end) > size) break;
        next--;
      }
      first = next;
    }
  }
  if (first < pieces.length) out.push([pieces[first]![0], pieces[pieces.length - 1]![1]]);
  return out;
}

function trim(text: string, start: number, end: number): Span {
  while (start < end && /\s/.test(text[start]!)) start++;
  while (end > start && /\s/.test(text[end - 1]!)) end--;
  return [start, end];
}
