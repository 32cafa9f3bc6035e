/**
 * PDF text through Mozilla's pdf.js (pdfjs-dist, legacy build for Node): one section per page, lines ended where
 * pdf.js marks an end of line. Scanned PDFs without a text layer load as empty (and are reported so).
 */
import type { LoadedDocument, Section } from '../types.js';

interface TextItem {
  str?: string;
  hasEOL?: boolean;
}

export async function loadPdf(bytes: Uint8Array): Promise<LoadedDocument> {
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  // pdf.js takes ownership of (detaches) the buffer it is given: hand it a copy.
  const task = pdfjs.getDocument({
    data: new Uint8Array(bytes),
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    verbosity: 0,
  });
  const doc = await task.promise;
  try {
    let text = '';
    const sections: Section[] = [];
    for (let p = 1; p <= doc.numPages; p++) {
      const page = await doc.getPage(p);
      const content = await page.getTextContent();
      const start = text.length;
      for (const item of content.items as TextItem[]) {
        if (item.str) text += item.str;
        if (item.hasEOL) text += '\n';
      }
      text = `${text.trimEnd()}\n\n`;
      sections.push({ start, end: text.length, heading: null, page: p });
      page.cleanup();
    }
    return { text, sections, format: 'pdf' };
  } finally {
    await task.destroy();
  }
}
