/**
 * IncrementalDecoder on real tokenizers: pieces never show a half-decoded character (U+FFFD) or text that a later
 * token rewrites, and they concatenate to the whole sequence's decode — with Chinese (byte-fallback pieces on
 * Mistral's vocabulary, split byte-level tokens on Qwen3's), emoji, and clean-up-sensitive punctuation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IncrementalDecoder } from '../../src/infer/incremental-decoder.js';
import { load } from '../util/tokenizers.js';

const TEXTS = [
  '你好，世界！今天天气很好。',
  'Mixed 中文 and English, with emoji 🎉🚀 and a tab\tthere.',
  "It's a test . Don't stop , ok ? Yes !\nNew line: 東京タワー",
  '𠀀𠀁 rare CJK extension B, and café naïve résumé',
];

for (const name of ['mistral', 'qwen3', 'llama3'] as const) {
  test(`${name}: streamed pieces are stable and concatenate to decode(all)`, async () => {
    const tokenizer = load(name);
    for (const text of TEXTS) {
      const ids = await tokenizer.encode(text, { addSpecialTokens: false });
      for (const skipSpecialTokens of [true, false]) {
        const decode = (x: readonly number[]) => tokenizer.decode(x, { skipSpecialTokens });
        const decoder = new IncrementalDecoder(decode);
        const pieces: string[] = [];
        for (const id of ids) {
          const piece = decoder.push(id);
          assert.ok(!piece.includes('\ufffd'), `no half character in ${JSON.stringify(piece)}`);
          pieces.push(piece);
          // Nothing shown is ever taken back. (The text decoded so far is not always a safe reference: a byte-fallback
          // run decodes to U+FFFD as a whole while it ends in half a character.)
          assert.ok(decode(ids).startsWith(pieces.join('')), `${JSON.stringify(pieces.join(''))} stays a prefix`);
        }
        pieces.push(decoder.flush());
        assert.equal(pieces.join(''), decode(ids), text);
        assert.equal(decoder.text, decode(ids));
      }
    }
  });
}

test('Chinese text streams character by character, not only at the end', async () => {
  const tokenizer = load('qwen3');
  const ids = await tokenizer.encode('你好世界，今天天气很好', { addSpecialTokens: false });
  const decoder = new IncrementalDecoder((x) => tokenizer.decode(x));
  const early = ids
    .slice(0, -1)
    .map((id) => decoder.push(id))
    .join('');
  assert.ok(early.length >= 5, `most of the text came out before the end: ${JSON.stringify(early)}`);
});

test('a token that is half of a UTF-8 character is held back until the character completes', () => {
  // A decoder over raw bytes: the first bytes of '你' decode to U+FFFD until the third arrives.
  const bytes = [...Buffer.from('你好 ok', 'utf8')];
  const decoder = new IncrementalDecoder((x) => Buffer.from(x.map((i) => bytes[i] as number)).toString('utf8'));
  assert.deepEqual(
    [0, 1, 2].map((i) => decoder.push(i)),
    ['', '', '你'],
  );
  assert.deepEqual(
    [3, 4, 5].map((i) => decoder.push(i)),
    ['', '', '好'],
  );
  // A word is held back until a space shows it cannot be rewritten, then released whole at the end.
  assert.deepEqual(
    [6, 7, 8].map((i) => decoder.push(i)),
    ['', '', ''],
  );
  assert.equal(decoder.flush(), ' ok');
});
