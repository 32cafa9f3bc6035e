/** The shapes a knowledge base passes between its loaders, splitter, store and answering. */

/** A stretch of a document's text [start, end) under one heading or on one page; chunks never cross sections. */
export interface Section {
  start: number;
  end: number;
  /** The heading path ("Intro > Install") the stretch sits under, or null. */
  heading: string | null;
  /** 1-based page for paged formats (pdf), else null. */
  page: number | null;
}

/** What a loader makes of one file: its text and where its headings/pages are. */
export interface LoadedDocument {
  /** The file's text: the file itself for txt/md (spans are file offsets), the extracted text otherwise. */
  text: string;
  sections: Section[];
  /** The format it was read as (txt, md, html, csv, json, jsonl, pdf, docx). */
  format: string;
}

/** One retrievable piece: [start, end) in its document's text, with its section's heading and page. */
export interface ChunkSpan {
  start: number;
  end: number;
  heading: string | null;
  page: number | null;
}

/** A stored chunk as retrieval returns it. */
export interface StoredChunk extends ChunkSpan {
  id: number;
  /** The document's path as it was added (absolute). */
  source: string;
  text: string;
}

/** A retrieved chunk with its score (higher is better; BM25 for the lexical index, cosine for dense). */
export interface Hit extends StoredChunk {
  score: number;
}
