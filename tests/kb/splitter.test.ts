// The recursive splitter (issue #16 item 2): exact spans, size and overlap, Chinese and English sentence ends,
// sections (headings) never crossed, and token lengths.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { markdownSections } from '../../src/kb/loaders/text.js';
import { splitSections } from '../../src/kb/splitter.js';
import type { Section } from '../../src/kb/types.js';

const whole = (text: string): Section[] => [{ start: 0, end: text.length, heading: null, page: null }];

test('a short section is one chunk, trimmed, with its exact span', () => {
  const text = '\n  Hello there.  \n';
  assert.deepEqual(splitSections(text, whole(text), { chunkSize: 100, chunkOverlap: 0 }), [
    { start: 3, end: 15, heading: null, page: null },
  ]);
});

test('Chinese text is cut after 。！？；… and each chunk fits chunk_size', () => {
  const text = '床前明月光，疑是地上霜。举头望明月！低头思故乡？春眠不觉晓；处处闻啼鸟……夜来风雨声。';
  const chunks = splitSections(text, whole(text), { chunkSize: 14, chunkOverlap: 0 });
  const pieces = chunks.map((c) => text.slice(c.start, c.end));
  assert.deepEqual(pieces, [
    '床前明月光，疑是地上霜。',
    '举头望明月！低头思故乡？',
    '春眠不觉晓；处处闻啼鸟……',
    '夜来风雨声。',
  ]);
});

test('English sentences end at .!?; before a space, not inside 3.14 or e.g.x', () => {
  const text = 'Pi is 3.14 today. It rains! Does it? Yes; always. Version e.g.x stays whole.';
  const chunks = splitSections(text, whole(text), { chunkSize: 20, chunkOverlap: 0 });
  for (const c of chunks) assert.ok(c.end - c.start <= 20, text.slice(c.start, c.end));
  const pieces = chunks.map((c) => text.slice(c.start, c.end));
  assert.ok(pieces.includes('Pi is 3.14 today.'), pieces.join(' | '));
  assert.ok(
    pieces.some((p) => p.includes('e.g.x')),
    pieces.join(' | '),
  );
});

test('paragraphs come before lines and sentences; overlap repeats the end of the previous chunk', () => {
  const para = (n: number) => `Sentence ${n}a is here. Sentence ${n}b is here.`;
  const text = [para(1), para(2), para(3), para(4)].join('\n\n');
  const noOverlap = splitSections(text, whole(text), { chunkSize: 100, chunkOverlap: 0 });
  assert.deepEqual(
    noOverlap.map((c) => text.slice(c.start, c.end)),
    [`${para(1)}\n\n${para(2)}`, `${para(3)}\n\n${para(4)}`],
  );
  const overlapped = splitSections(text, whole(text), { chunkSize: 100, chunkOverlap: 50 });
  assert.ok(overlapped.length > noOverlap.length);
  for (let i = 1; i < overlapped.length; i++) {
    assert.ok(overlapped[i]!.start < overlapped[i - 1]!.end, 'consecutive chunks overlap');
    assert.ok(overlapped[i - 1]!.end - overlapped[i]!.start <= 50, 'by at most chunk_overlap');
  }
  assert.equal(overlapped.at(-1)!.end, text.length, 'the whole text is covered');
});

test('a text with no boundary at all is cut at chunk_size', () => {
  const text = 'x'.repeat(25);
  assert.deepEqual(
    splitSections(text, whole(text), { chunkSize: 10, chunkOverlap: 0 }).map((c) => c.end - c.start),
    [10, 10, 5],
  );
});

test('chunks never cross a heading, and carry it', () => {
  const text = '# A\n\nalpha text\n\n# B\n\nbeta text\n';
  const chunks = splitSections(text, markdownSections(text), { chunkSize: 1000, chunkOverlap: 0 });
  assert.deepEqual(
    chunks.map((c) => [c.heading, text.slice(c.start, c.end)]),
    [
      ['A', '# A\n\nalpha text'],
      ['B', '# B\n\nbeta text'],
    ],
  );
});

test('chunk_size counts with the given measure (tokens): here two characters per token', () => {
  const text = 'aaaa bbbb cccc dddd';
  const chunks = splitSections(text, whole(text), {
    chunkSize: 5,
    chunkOverlap: 0,
    measure: (s, e) => Math.ceil((e - s) / 2),
  });
  assert.deepEqual(
    chunks.map((c) => text.slice(c.start, c.end)),
    ['aaaa bbbb', 'cccc dddd'],
  );
});

test('bad chunk_size / chunk_overlap are user errors naming the argument', () => {
  assert.throws(() => splitSections('x', whole('x'), { chunkSize: 0, chunkOverlap: 0 }), /chunk_size must be >= 1/);
  assert.throws(() => splitSections('x', whole('x'), { chunkSize: 10, chunkOverlap: 10 }), /chunk_overlap must be/);
});
