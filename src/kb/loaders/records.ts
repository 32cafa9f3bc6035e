/**
 * Tabular and record files: csv (first line is the header), json (an array of records, or one object) and jsonl.
 * Each record becomes "field: value" lines and its own section ("row 3", "record 7", "line 12"), so a chunk
 * names the record it came from and never mixes two.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import type { LoadedDocument, Section } from '../types.js';
import { decodeText } from './text.js';

/** Thrown with the record that is wrong; the importer reports it against the file. */
export class RecordError extends Error {}

function flatten(value: unknown, prefix: string, out: string[]): void {
  if (value === null || value === undefined) return;
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== 'object' || v === null)) {
      if (value.length > 0) out.push(`${prefix ? `${prefix}: ` : ''}${value.join(', ')}`);
    } else {
      value.forEach((v, i) => {
        flatten(v, prefix ? `${prefix}[${i}]` : `[${i}]`, out);
      });
    }
  } else if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>))
      flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    const s = String(value).trim();
    if (s) out.push(prefix ? `${prefix}: ${s}` : s);
  }
}

function build(records: Array<{ label: string; value: unknown }>, format: string): LoadedDocument {
  let text = '';
  const sections: Section[] = [];
  for (const { label, value } of records) {
    const lines: string[] = [];
    flatten(value, '', lines);
    if (lines.length === 0) continue;
    const start = text.length;
    text += `${lines.join('\n')}\n\n`;
    sections.push({ start, end: text.length, heading: label, page: null });
  }
  return { text, sections, format };
}

export function loadCsv(bytes: Uint8Array): LoadedDocument {
  let rows: Record<string, string>[];
  try {
    rows = parseCsv(decodeText(bytes), { columns: true, skip_empty_lines: true, bom: true, relax_column_count: true });
  } catch (e) {
    throw new RecordError(`not valid CSV: ${(e as Error).message}`);
  }
  return build(
    rows.map((value, i) => ({ label: `row ${i + 2}`, value })),
    'csv',
  );
}

export function loadJson(bytes: Uint8Array): LoadedDocument {
  let data: unknown;
  try {
    data = JSON.parse(decodeText(bytes));
  } catch (e) {
    throw new RecordError(`not valid JSON: ${(e as Error).message}`);
  }
  const records = Array.isArray(data)
    ? data.map((value, i) => ({ label: `record ${i + 1}`, value }))
    : [{ label: 'record 1', value: data }];
  return build(records, 'json');
}

export function loadJsonl(bytes: Uint8Array): LoadedDocument {
  const records: Array<{ label: string; value: unknown }> = [];
  decodeText(bytes)
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      try {
        records.push({ label: `line ${i + 1}`, value: JSON.parse(line) });
      } catch (e) {
        throw new RecordError(`line ${i + 1} is not valid JSON: ${(e as Error).message}`);
      }
    });
  return build(records, 'jsonl');
}
