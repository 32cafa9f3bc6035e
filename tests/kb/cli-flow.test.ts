// The knowledge-base CLI flow (issue #16 "done when"): create -> add the bundled folder plus one unreadable file
// (reported, skipped, the import goes on) -> search --json -> ask on the tiny model (its text is nonsense; the
// flow and the sources are what is checked) -> "not found" -> list -> remove -> chat with a follow-up.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { readQuestions } from '../../src/kb/evaluate.js';
import { tempDir } from '../util/tokenizers.js';

const dir = tempDir('kb-cli');
const docs = join(dir, 'docs');
const kb = join(dir, 'kb.sqlite');
const tiny = resolve('examples/tiny/base');
const generation = ['--model_name_or_path', tiny, '--max_new_tokens', '6', '--do_sample', 'false'];

function lmforge(args: string[], input = ''): { out: string; err: string; code: number | null } {
  const r = spawnSync(process.execPath, ['bin/lmforge.js', 'kb', ...args], {
    encoding: 'utf8',
    input,
    timeout: 120_000,
  });
  return { out: r.stdout, err: r.stderr, code: r.status };
}

test('create, add a folder with a broken file, search, ask, not found, list, remove, chat', () => {
  cpSync(resolve('examples/kb/docs'), docs, { recursive: true });
  writeFileSync(join(docs, 'brown', 'scanned.pdf'), '%PDF-1.7 this is not a PDF body');
  const created = lmforge(['create', kb, 'chunk_size=250', 'chunk_overlap=50']);
  assert.equal(created.code, 0, created.err);

  const added = lmforge(['add', kb, docs]);
  assert.equal(added.code, 0, added.err);
  assert.match(added.err, /skipped .*scanned\.pdf: .+/, 'the unreadable file is named with the reason');
  assert.match(added.out, /101 files: 100 added, 0 replaced, 0 unchanged, 1 skipped; \d+ chunks/);

  const [question] = readQuestions(resolve('examples/kb/questions.jsonl'));
  const searched = lmforge(['search', kb, question!.question, '--json', '--top_k', '5']);
  assert.equal(searched.code, 0, searched.err);
  const hits = JSON.parse(searched.out) as Array<{
    rank: number;
    source: string;
    score: number;
    text: string;
    start: number;
    end: number;
  }>;
  assert.ok(hits.length >= 1 && hits.length <= 5);
  assert.equal(hits[0]!.source, join(docs, question!.source));
  assert.ok(hits[0]!.start < question!.end && hits[0]!.end > question!.start, 'the top chunk holds the answer span');
  assert.ok(hits[0]!.text.includes(question!.answer));
  assert.ok(
    hits.every((h, i) => i === 0 || h.score <= hits[i - 1]!.score),
    'ranked by score',
  );

  const asked = lmforge(['ask', kb, question!.question, ...generation]);
  assert.equal(asked.code, 0, asked.err);
  const sources = asked.out.split('\nSources:\n')[1];
  assert.ok(sources, asked.out);
  assert.match(
    sources!,
    new RegExp(`^\\[1\\] ${join(docs, question!.source)}:\\d+-\\d+ \\(.+\\)  score \\d+\\.\\d{3}$`, 'm'),
  );

  const askedJson = lmforge(['ask', kb, question!.question, ...generation, '--json']);
  const answer = JSON.parse(askedJson.out) as { found: boolean; answer: string; sources: unknown[] };
  assert.equal(answer.found, true);
  assert.equal(answer.sources.length, 3, 'top_k defaults to 3');

  const missing = lmforge(['ask', kb, 'xylophone quasar zeppelin', '--model_name_or_path', '/no/such/model']);
  assert.equal(missing.code, 0, missing.err);
  assert.match(missing.out, /Not found in the knowledge base/);
  assert.doesNotMatch(missing.out, /Sources:/);

  const listed = lmforge(['list', kb, '--json']);
  assert.equal((JSON.parse(listed.out) as unknown[]).length, 100);
  const removed = lmforge(['remove', kb, join(docs, 'brown')]);
  assert.equal(removed.code, 0, removed.err);
  assert.match(removed.out, /30 documents removed; 70 left/);
  const unknown = lmforge(['remove', kb, join(docs, 'nothing-here.txt')]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /no document of .* is at or under that path/);

  const chat = lmforge(['chat', kb, ...generation], `${question!.question}\n它的上一句呢？\nexit\n`);
  assert.equal(chat.code, 0, chat.err);
  assert.equal(chat.out.split('\nSources:\n').length, 3, 'both turns print their sources');
});

test('user errors are one line: unknown subcommand, missing knowledge base, bad argument', () => {
  const sub = lmforge(['serach', 'x']);
  assert.equal(sub.code, 1);
  assert.match(sub.err, /unknown kb subcommand 'serach'/);
  const none = lmforge(['search', join(dir, 'none.sqlite'), 'q']);
  assert.match(none.err, /no knowledge base there; create it with lmforge kb create/);
  const bad = lmforge(['search', kb, 'q', '--top_kk', '3']);
  assert.match(bad.err, /did you mean 'top_k'/);
});
