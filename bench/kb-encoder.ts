/**
 * `npm run bench -- kb-encoder [model=DIR] [chunks=64]`: sentence-encoder throughput on the bundled Brown passages
 * cut into 250-character chunks, embedded 16 at a time as `kb add` does. Without model= it times a random
 * checkpoint shaped as bge-small (384 hidden, 12 layers, 12 heads, 1536 inner; the tests' 20-word WordPiece
 * vocabulary, so a word is one token): a speed figure only, its vectors mean nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SentenceEncoder } from '../src/kb/encoders/sentence-encoder.js';
import { writeTinyEncoder } from '../tests/kb/tiny-encoders.js';

export async function run(args: string[]): Promise<void> {
  const arg = (name: string) => args.find((a) => a.startsWith(`${name}=`))?.split('=')[1];
  const count = Number(arg('chunks') ?? 64);
  const given = arg('model');
  const dir = given
    ? resolve(given)
    : writeTinyEncoder({
        family: 'bert',
        pooling: 'cls',
        dims: { hidden: 384, heads: 12, layers: 12, intermediate: 1536, positions: 512 },
      }).dir;
  const docs = resolve('examples/kb/docs/brown');
  const texts: string[] = [];
  for (const f of readdirSync(docs).sort()) {
    const t = readFileSync(join(docs, f), 'utf8');
    for (let i = 0; i + 250 <= t.length && texts.length < count; i += 250) texts.push(t.slice(i, i + 250));
  }
  const encoder = SentenceEncoder.load(dir);
  try {
    await encoder.embed(texts.slice(0, 4)); // first-call costs (thread pool, allocator) are not the rate
    const started = performance.now();
    for (let i = 0; i < texts.length; i += 16) await encoder.embed(texts.slice(i, i + 16));
    const seconds = (performance.now() - started) / 1000;
    const name = given ?? 'random bge-small-shaped BERT';
    console.log(
      `${name}: ${texts.length} chunks of 250 chars in ${seconds.toFixed(2)} s = ${(texts.length / seconds).toFixed(1)} chunks/s`,
    );
  } finally {
    await encoder.close();
  }
}
