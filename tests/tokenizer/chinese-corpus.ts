/** The Chinese half of the tiny corpus (examples/data/tiny_pretrain.jsonl: classical poems), for tokenizer tests. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const HAN = /\p{Script=Han}/u;

/** The poems of the tiny pre-training corpus, in file order (`limit` of them when given). */
export function chinesePoems(limit?: number): string[] {
  const records = readFileSync('examples/data/tiny_pretrain.jsonl', 'utf8').trim().split('\n');
  const poems = records.map((l) => (JSON.parse(l) as { text: string }).text).filter((t) => HAN.test(t));
  return limit === undefined ? poems : poems.slice(0, limit);
}

/** The English records of the same corpus. */
export function englishRecords(limit: number): string[] {
  const records = readFileSync('examples/data/tiny_pretrain.jsonl', 'utf8').trim().split('\n');
  return records
    .map((l) => (JSON.parse(l) as { text: string }).text)
    .filter((t) => !HAN.test(t))
    .slice(0, limit);
}

/** Writes texts as a .txt file (one text per line, newlines inside a text turned into spaces) and returns its path. */
export function writeTextFile(dir: string, name: string, texts: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${texts.map((t) => t.replaceAll('\n', ' ')).join('\n')}\n`);
  return path;
}
