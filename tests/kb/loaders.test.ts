// Loaders (issue #16 item 1): each format's text, its sections (heading path, page, record) and exact spans.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadFile } from '../../src/kb/loaders/index.js';
import type { LoadedDocument } from '../../src/kb/types.js';
import { tempDir } from '../util/tokenizers.js';
import { makeDocx, makePdf } from './fixtures.js';

const dir = tempDir('kb-loaders');

function write(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function sectionTexts(doc: LoadedDocument): Array<[string | null, number | null, string]> {
  return doc.sections.map((s) => [s.heading, s.page, doc.text.slice(s.start, s.end).trim()]);
}

test('markdown: ATX headings open sections named by their path; code-block comments are not headings', async () => {
  const md = 'intro line\n\n# Guide\n\ntext one\n\n## Install\n\n```sh\n# not a heading\n```\n\n# Other\nlast\n';
  const doc = await loadFile(write('a.md', md));
  assert.equal(doc.text, md, 'markdown spans are file offsets');
  assert.deepEqual(
    sectionTexts(doc).map(([h]) => h),
    [null, 'Guide', 'Guide > Install', 'Other'],
  );
  assert.match(sectionTexts(doc)[2]![2], /# not a heading/);
});

test('txt: UTF-8, or GB18030 when the bytes are not UTF-8; a BOM is dropped', async () => {
  assert.equal((await loadFile(write('u.txt', '\ufeff床前明月光'))).text, '床前明月光');
  // 中文 in GB18030
  assert.equal((await loadFile(write('g.txt', Buffer.from([0xd6, 0xd0, 0xce, 0xc4])))).text, '中文');
});

test('html: headings become sections, paragraphs blank-line separated, script/style dropped, entities decoded', async () => {
  const html =
    '<html><head><title>t</title><style>p{}</style></head><body><p>Before &amp; after</p>' +
    '<h1>Top</h1><p>one</p><script>var x = 1;</script><h2>Sub</h2><p>two</p><ul><li>a</li><li>b</li></ul></body></html>';
  const doc = await loadFile(write('a.html', html));
  assert.doesNotMatch(doc.text, /var x|p\{\}/);
  assert.deepEqual(sectionTexts(doc), [
    [null, null, 'Before & after'],
    ['Top', null, 'Top\n\none'],
    ['Top > Sub', null, 'Sub\n\ntwo\n\na\nb'],
  ]);
});

test('csv, json and jsonl: one section per record with "field: value" lines', async () => {
  const csv = await loadFile(write('a.csv', 'name,city\nAda,London\n"Lin, Yu",北京\n'));
  assert.deepEqual(sectionTexts(csv), [
    ['row 2', null, 'name: Ada\ncity: London'],
    ['row 3', null, 'name: Lin, Yu\ncity: 北京'],
  ]);
  const json = await loadFile(
    write('a.json', JSON.stringify([{ q: 'x', a: { b: 1, tags: ['p', 'q'] } }, {}, { q: 'y' }])),
  );
  assert.deepEqual(sectionTexts(json), [
    ['record 1', null, 'q: x\na.b: 1\na.tags: p, q'],
    ['record 3', null, 'q: y'],
  ]);
  const jsonl = await loadFile(write('a.jsonl', '{"t":"a"}\n\n{"t":"b"}\n'));
  assert.deepEqual(
    sectionTexts(jsonl).map(([h, , t]) => [h, t]),
    [
      ['line 1', 't: a'],
      ['line 3', 't: b'],
    ],
  );
  await assert.rejects(loadFile(write('bad.jsonl', '{"t":"a"}\n{oops\n')), /line 2 is not valid JSON/);
  await assert.rejects(loadFile(write('bad.json', '{')), /not valid JSON/);
});

test('pdf: one section per page with its page number, lines kept', async () => {
  const pdf = makePdf([['First page line one', 'line two (with parens)'], ['Second page']]);
  const doc = await loadFile(write('a.pdf', pdf));
  assert.equal(doc.format, 'pdf');
  const sections = sectionTexts(doc);
  assert.deepEqual(
    sections.map(([, page]) => page),
    [1, 2],
  );
  assert.match(sections[0]![2], /First page line one\s+line two \(with parens\)/);
  assert.equal(sections[1]![2], 'Second page');
  await assert.rejects(loadFile(write('broken.pdf', '%PDF-1.4 not really')), /PDF/i);
});

test('docx: paragraphs through mammoth, Word headings become sections', async () => {
  const docx = makeDocx([
    ['Heading1', '安装'],
    [null, '运行 npm install。'],
    ['Heading2', 'Linux'],
    [null, 'Use apt.'],
  ]);
  const doc = await loadFile(write('a.docx', docx));
  assert.deepEqual(sectionTexts(doc), [
    ['安装', null, '安装\n\n运行 npm install。'],
    ['安装 > Linux', null, 'Linux\n\nUse apt.'],
  ]);
  await assert.rejects(loadFile(write('broken.docx', 'not a zip')));
});
