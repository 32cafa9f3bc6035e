// Byte-level BPE training (issue #17 item 1): the same merges as HF's Rust trainer, a tokenizer.json HF's library
// loads and that round-trips any text, vocab_size and special tokens honoured, fast enough for megabytes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BPE, byteLevelPreTokenizer, Tokenizer as HfTokenizer } from 'tokenizers';
import { TokenizerError } from '../../src/tokenizer/errors.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { writeTrainedTokenizer } from '../../src/tokenizer/train/tokenizer-json.js';
import { trainByteLevelBpe } from '../../src/tokenizer/train/train-bpe.js';
import { tempDir } from '../util/tokenizers.js';
import { chinesePoems, englishRecords, writeTextFile } from './chinese-corpus.js';

test("the learned merges are HF's Rust trainer's, in order (ties included)", () => {
  const dir = tempDir('bpe-hf');
  const texts = [...chinesePoems(600), ...englishRecords(300)];
  const file = writeTextFile(dir, 'corpus.txt', texts);
  // HF's JS binding trains only with its default trainer (30000 ids, min_frequency 0): compare its first merges.
  const hf = new HfTokenizer(BPE.empty());
  hf.setPreTokenizer(byteLevelPreTokenizer(false, true));
  hf.train([file]);
  hf.save(join(dir, 'hf.json'));
  const hfMerges = (JSON.parse(readFileSync(join(dir, 'hf.json'), 'utf8')) as { model: { merges: string[][] } }).model
    .merges;
  // One text per line: a lone newline is a pre-token of one byte, which holds no pair, so lines match the file.
  const lines = readFileSync(file, 'utf8').split('\n');
  const ours = trainByteLevelBpe(lines, { vocabSize: 256 + 3000, minFrequency: 0, specialTokens: [] });
  assert.equal(ours.merges.length, 3000);
  assert.ok(hfMerges.length > 3000);
  assert.deepEqual(ours.merges, hfMerges.slice(0, 3000));
  // Counts never rise: a pair made with a new token occurs at most as often as the merge that made the token.
  for (let k = 1; k < ours.mergeCounts.length; k++)
    assert.ok((ours.mergeCounts[k] as number) <= (ours.mergeCounts[k - 1] as number), `merge ${k}`);
});

test('a trained tokenizer folder loads, has vocab_size ids, its special tokens last, and round-trips any text', async () => {
  const dir = tempDir('bpe-folder');
  const trained = trainByteLevelBpe(chinesePoems(400), {
    vocabSize: 2000,
    minFrequency: 2,
    specialTokens: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
  });
  writeTrainedTokenizer(dir, trained, { eosToken: '<|endoftext|>', modelMaxLength: 512 });
  const tok = Tokenizer.fromDir(dir);
  assert.equal(tok.size, 2000);
  assert.equal(tok.vocabSize, 1997, "HF's vocab_size leaves the added special tokens out");
  assert.deepEqual(
    ['<|endoftext|>', '<|im_start|>', '<|im_end|>'].map((t) => tok.tokenToId(t)),
    [1997, 1998, 1999],
  );
  assert.equal(tok.eosToken, '<|endoftext|>');
  for (const text of [
    '春风又绿江南岸，明月何时照我还。',
    'Hello, world!\n\tTabs  and  spaces',
    'emoji 🤗 and é ß \u0000',
  ]) {
    const ids = await tok.encode(text, { addSpecialTokens: false });
    assert.equal(tok.decode(ids), text);
  }
  // A frequent line of verse costs fewer tokens than its UTF-8 bytes.
  const ids = await tok.encode('明月', { addSpecialTokens: false });
  assert.ok(ids.length < 6, `${ids.length} tokens`);
  assert.equal(await tok.encode('<|im_end|>', { addSpecialTokens: false }).then((i) => i.length), 1);
});

test('min_frequency stops training early; a vocab_size below the byte alphabet is refused', () => {
  const small = trainByteLevelBpe(['ab ab ab cd'], { vocabSize: 1000, minFrequency: 2, specialTokens: [] });
  // "ab" x3, " ab" x2 (the Ġ-prefixed pieces): a, b -> ab; Ġ, ab -> Ġab; nothing else occurs twice.
  assert.deepEqual(small.merges, [
    ['a', 'b'],
    ['Ġ', 'ab'],
  ]);
  assert.throws(
    () => trainByteLevelBpe(['x'], { vocabSize: 200, minFrequency: 0, specialTokens: [] }),
    (e: unknown) => e instanceof TokenizerError && /vocab_size 200 is too small/.test((e as Error).message),
  );
});

test('an 8k vocabulary trains on the 2 MB of Chinese poems in seconds', () => {
  const poems = chinesePoems();
  const bytes = poems.reduce((n, t) => n + Buffer.byteLength(t), 0);
  assert.ok(bytes > 1_900_000, `${bytes} bytes`);
  const started = performance.now();
  const trained = trainByteLevelBpe(poems, { vocabSize: 8192, minFrequency: 2, specialTokens: ['<|endoftext|>'] });
  const seconds = (performance.now() - started) / 1000;
  assert.equal(trained.vocab.size + trained.specialTokens.length, 8192);
  // About 6 s on two busy cores; the bound leaves room for a loaded CI machine.
  assert.ok(seconds < 40, `${seconds.toFixed(1)} s`);
});
