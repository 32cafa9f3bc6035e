/**
 * chunk_unit=tokens: how many of a model's tokens a stretch of a document holds. The document is encoded once
 * (HF tokenizers, offsets in UTF-16 units like JS strings); a stretch counts the tokens that start inside it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from 'tokenizers';
import { KbError } from './errors.js';

export type SpanMeasure = (start: number, end: number) => number;

export async function loadTokenCounter(modelDir: string): Promise<(text: string) => Promise<SpanMeasure>> {
  const file = join(modelDir, 'tokenizer.json');
  if (!existsSync(file)) throw new KbError(`${file}: no tokenizer.json for chunk_unit=tokens`);
  const tokenizer = await Tokenizer.fromFile(file);
  return async (text: string) => {
    const offsets = (await tokenizer.encode(text, null, { addSpecialTokens: false })).getOffsets();
    // startsBefore[i] = tokens starting before offset i.
    const startsBefore = new Int32Array(text.length + 1);
    for (const [start = text.length] of offsets) if (start < text.length) startsBefore[start + 1]! += 1;
    for (let i = 1; i <= text.length; i++) startsBefore[i]! += startsBefore[i - 1]!;
    return (start, end) => startsBefore[end]! - startsBefore[start]!;
  };
}
