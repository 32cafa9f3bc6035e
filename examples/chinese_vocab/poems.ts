/**
 * Writes the Chinese half of the tiny corpus (the classical poems of examples/data/tiny_pretrain.jsonl), one poem
 * per line, for `lmforge tokenizer train`: a Chinese tokenizer learns from Chinese text only.
 *
 *   npx tsx examples/chinese_vocab/poems.ts   # -> saves/chinese_vocab/poems.txt
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const records = readFileSync('examples/data/tiny_pretrain.jsonl', 'utf8').trim().split('\n');
const poems = records
  .map((line) => (JSON.parse(line) as { text: string }).text)
  .filter((text) => /\p{Script=Han}/u.test(text))
  .map((text) => text.replaceAll('\n', ' '));
mkdirSync('saves/chinese_vocab', { recursive: true });
writeFileSync('saves/chinese_vocab/poems.txt', `${poems.join('\n')}\n`);
console.log(`${poems.length} poems -> saves/chinese_vocab/poems.txt`);
