/**
 * HTML (and docx, through mammoth's HTML) to text with htmlparser2: block elements end lines, paragraphs are
 * separated by blank lines, h1-h6 open sections named by their heading path, script/style/head content is dropped.
 */
import { createRequire } from 'node:module';
import type { Parser as HtmlParser } from 'htmlparser2';

// An optional peer dependency, loaded on the first HTML file (see store.ts).
const require = createRequire(import.meta.url);
const htmlParser = () => (require('htmlparser2') as { Parser: typeof HtmlParser }).Parser;

import type { LoadedDocument, Section } from '../types.js';
import { decodeText } from './text.js';

const BLOCK = new Set(
  'p div section article aside header footer nav main li ul ol dl dt dd table tr blockquote pre figure figcaption form hr br address'.split(
    ' ',
  ),
);
const PARAGRAPH = new Set(['p', 'blockquote', 'pre', 'table', 'ul', 'ol', 'section', 'article', 'figure']);
const HIDDEN = new Set(['script', 'style', 'noscript', 'template', 'head', 'svg']);
const CELL = new Set(['td', 'th']);

export function loadHtml(bytes: Uint8Array): LoadedDocument {
  return htmlToDocument(decodeText(bytes), 'html');
}

export function htmlToDocument(html: string, format: string): LoadedDocument {
  let text = '';
  const sections: Section[] = [];
  const path: string[] = [];
  let hidden = 0;
  let headingLevel = 0;
  let headingText = '';
  let sectionStart = 0;
  let sectionHeading: string | null = null;
  const breakLine = (blank: boolean) => {
    text = text.replace(/[ \t]+$/, '');
    if (text.length === 0) return;
    const want = blank ? '\n\n' : '\n';
    if (!text.endsWith(want)) text += text.endsWith('\n') ? '\n'.repeat(want.length - 1) : want;
  };
  const parser = new (htmlParser())(
    {
      onopentag(name) {
        if (HIDDEN.has(name)) hidden++;
        else if (/^h[1-6]$/.test(name)) {
          breakLine(true);
          if (text.length > sectionStart)
            sections.push({ start: sectionStart, end: text.length, heading: sectionHeading, page: null });
          sectionStart = text.length;
          headingLevel = Number(name[1]);
          headingText = '';
        } else if (BLOCK.has(name)) breakLine(PARAGRAPH.has(name));
        else if (CELL.has(name) && !/[\n\t]$/.test(text) && text.length > 0) text += '\t';
      },
      ontext(data) {
        if (hidden > 0) return;
        const piece = data.replace(/\s+/g, ' ');
        if (piece === ' ' && (text.length === 0 || /\s$/.test(text))) return;
        text += /\s$/.test(text) || text.length === 0 ? piece.replace(/^ /, '') : piece;
        if (headingLevel > 0) headingText += piece;
      },
      onclosetag(name) {
        if (HIDDEN.has(name)) hidden = Math.max(0, hidden - 1);
        else if (/^h[1-6]$/.test(name) && headingLevel > 0) {
          path.length = Math.min(path.length, headingLevel - 1);
          path[headingLevel - 1] = headingText.trim();
          sectionHeading = path.filter((p) => p).join(' > ') || null;
          headingLevel = 0;
          breakLine(true);
        } else if (BLOCK.has(name)) breakLine(PARAGRAPH.has(name));
      },
    },
    { decodeEntities: true, lowerCaseTags: true },
  );
  parser.write(html);
  parser.end();
  text = text.trimEnd();
  if (text.length > sectionStart || sections.length === 0) {
    sections.push({ start: sectionStart, end: text.length, heading: sectionHeading, page: null });
  }
  return { text, sections: sections.map((s) => ({ ...s, end: Math.min(s.end, text.length) })), format };
}
