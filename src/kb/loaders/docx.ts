/** Word .docx through mammoth: converted to HTML (headings kept as h1-h6), then read as HTML. */

import type { LoadedDocument } from '../types.js';
import { htmlToDocument } from './html.js';

export async function loadDocx(bytes: Uint8Array): Promise<LoadedDocument> {
  const mammoth = (await import('mammoth')).default;
  const { value } = await mammoth.convertToHtml({ buffer: Buffer.from(bytes) });
  return htmlToDocument(value, 'docx');
}
