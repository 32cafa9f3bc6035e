// BERT-family sentence encoders (issue #16 item 3): WordPiece / Unigram tokenization, the engine's BertModel and
// XLMRobertaModel forward vs a float64 reference on tiny random checkpoints, CLS / mean pooling as the folder's
// sentence-transformers config says, and unit-length vectors; batches with padding match unpadded references.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SentenceEncoder } from '../../src/kb/encoders/sentence-encoder.js';
import { Tokenizer } from '../../src/tokenizer/index.js';
import { referenceEmbedding } from './encoder-reference.js';
import { writeTinyEncoder } from './tiny-encoders.js';

const TOLERANCE = 2e-5;

function assertClose(actual: number[], expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const worst = Math.max(...actual.map((v, i) => Math.abs(v - (expected[i] as number))));
  assert.ok(worst < TOLERANCE, `${what}: max |diff| ${worst} (got ${actual}, want ${expected})`);
}

test('the BERT WordPiece tokenizer splits words into ## pieces, lower-cases, and marks pair token types', async () => {
  const tiny = writeTinyEncoder({ family: 'bert' });
  const tokenizer = Tokenizer.fromDir(tiny.dir);
  assert.deepEqual(await tokenizer.encode('Hello unbelievable World'), [2, 5, 10, 11, 12, 6, 3]);
  assert.deepEqual(await tokenizer.encode('猫坐'), [2, 16, 17, 3]);
  const pair = await tokenizer.encodeForEncoder('the cat', 'sat on the mat', 64);
  assert.deepEqual(pair.ids, [2, 7, 8, 3, 9, 13, 7, 14, 3]);
  assert.deepEqual(pair.typeIds, [0, 0, 0, 0, 1, 1, 1, 1, 1]);
  const cut = await tokenizer.encodeForEncoder('the cat', 'on the mat . the cat sat', 8);
  assert.equal(cut.ids.length, 8, 'truncated longest-first to max_length');
  assert.deepEqual(cut.ids.slice(0, 4), [2, 7, 8, 3], 'the shorter text is kept whole');
  assert.deepEqual(cut.ids.slice(4), [13, 7, 14, 3], 'the longer one is cut');
});

test('the XLM-R Unigram tokenizer puts <s> ... </s> around Metaspace pieces', async () => {
  const tiny = writeTinyEncoder({ family: 'xlm-roberta' });
  const tokenizer = Tokenizer.fromDir(tiny.dir);
  assert.deepEqual(await tokenizer.encode('hello world'), [0, 4, 5, 2]);
  const pair = await tokenizer.encodeForEncoder('the cat', 'on the mat', 64);
  assert.deepEqual(pair.ids, [0, 6, 7, 2, 2, 9, 6, 10, 2]);
});

const TEXTS = ['Hello world', 'the cat sat on the mat.', 'unbelievable', '猫坐 on a mat'];

for (const [family, pooling] of [
  ['bert', undefined],
  ['bert', 'cls'],
  ['bert', 'mean'],
  ['xlm-roberta', 'cls'],
  ['xlm-roberta', 'mean'],
] as const) {
  test(`${family} encoder with ${pooling ?? 'no modules.json (mean)'} pooling matches the float64 reference, padded in one batch`, async () => {
    const tiny = writeTinyEncoder({ family, ...(pooling ? { pooling } : {}) });
    const encoder = SentenceEncoder.load(tiny.dir);
    try {
      assert.equal(encoder.pooling.mode, pooling ?? 'mean');
      const tokenizer = Tokenizer.fromDir(tiny.dir);
      const { vectors } = await encoder.embed(TEXTS);
      for (const [i, text] of TEXTS.entries()) {
        const ids = await tokenizer.encode(text);
        const want = referenceEmbedding(tiny, ids, pooling ?? 'mean');
        assertClose(vectors[i] as number[], want, `${family} "${text}"`);
        const norm = Math.sqrt((vectors[i] as number[]).reduce((a, v) => a + v * v, 0));
        assert.ok(Math.abs(norm - 1) < 1e-5, `unit length, got ${norm}`);
      }
      const alone = await encoder.embed([TEXTS[1] as string]);
      assertClose(
        alone.vectors[0] as number[],
        vectors[1] as number[],
        'a text alone equals the text in a padded batch',
      );
    } finally {
      await encoder.close();
    }
  });
}

test('sentence_bert_config max_seq_length truncates the input before the forward', async () => {
  const tiny = writeTinyEncoder({ family: 'bert', pooling: 'cls' });
  const encoder = SentenceEncoder.load(tiny.dir);
  try {
    const long = Array.from({ length: 40 }, () => 'cat').join(' ');
    const { vectors } = await encoder.embed([long]);
    const ids = [2, ...new Array(14).fill(8), 3];
    assertClose(vectors[0] as number[], referenceEmbedding(tiny, ids, 'cls'), 'cut to 16 tokens');
  } finally {
    await encoder.close();
  }
});

test('a pooling mode lmforge does not run is refused naming the file', () => {
  const tiny = writeTinyEncoder({ family: 'bert', pooling: 'mean' });
  const path = join(tiny.dir, '1_Pooling', 'config.json');
  writeFileSync(path, JSON.stringify({ pooling_mode_max_tokens: true }));
  assert.throws(
    () => SentenceEncoder.load(tiny.dir),
    (e: Error) => e.message.includes(path) && e.message.includes('pooling_mode_max_tokens'),
  );
});
