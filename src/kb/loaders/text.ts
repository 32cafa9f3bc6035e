/**
 * Plain text and Markdown. Text is decoded as UTF-8, or as GB18030 when it is not valid UTF-8 (files saved by
 * Chinese Windows editors); spans are offsets into that text. Markdown's ATX headings (# ... ######) open
 * sections named by their heading path ("Guide > Install").
 */
import type { LoadedDocument, Section } from '../types.js';

export function decodeText(bytes: Uint8Array): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = new TextDecoder('gb18030').decode(bytes);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

export function loadTxt(bytes: Uint8Array): LoadedDocument {
  const text = decodeText(bytes);
  return { text, sections: [{ start: 0, end: text.length, heading: null, page: null }], format: 'txt' };
}

const ATX_HEADING = /^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$/gm;

export function loadMarkdown(bytes: Uint8Array): LoadedDocument {
  const text = decodeText(bytes);
  return { text, sections: markdownSections(text), format: 'md' };
}

export function markdownSections(text: string): Section[] {
  const sections: Section[] = [];
  const path: string[] = [];
  let start = 0;
  let heading: string | null = null;
  const fenced = fencedRanges(text);
  for (const m of text.matchAll(ATX_HEADING)) {
    if (fenced.some(([a, b]) => m.index >= a && m.index < b)) continue;
    if (m.index > start) sections.push({ start, end: m.index, heading, page: null });
    const level = m[1]!.length;
    path.length = Math.min(path.length, level - 1);
    path[level - 1] = m[2]!.trim();
    heading = path.filter((p) => p !== undefined).join(' > ');
    start = m.index;
  }
  if (text.length > start || sections.length === 0) sections.push({ start, end: text.length, heading, page: null });
  return sections;
}

/** ``` / ~~~ code blocks, whose "# comment" lines are not headings. */
function fencedRanges(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const fence = /^ {0,3}(```|~~~)/gm;
  let open: number | null = null;
  for (const m of text.matchAll(fence)) {
    if (open === null) open = m.index;
    else {
      out.push([open, m.index + m[0].length]);
      open = null;
    }
  }
  if (open !== null) out.push([open, text.length]);
  return out;
}
