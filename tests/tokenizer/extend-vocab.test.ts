// Vocabulary extension (issue #17 item 2): old ids unchanged, new tokens appended after every used id (added tokens
// included), merges added so the new pieces are produced, and the seeds' motivation measured: Llama-3's tokenizer
// extended with a Chinese one needs at least 1.5x fewer tokens per Chinese character.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TokenizerError } from '../../src/tokenizer/errors.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { extendBpeVocab } from '../../src/tokenizer/train/extend-vocab.js';
import { measureTokenizer } from '../../src/tokenizer/train/stats.js';
import { byteLevelTokenizerJson } from '../../src/tokenizer/train/tokenizer-json.js';
import { trainByteLevelBpe } from '../../src/tokenizer/train/train-bpe.js';
import { LENML, tempDir } from '../util/tokenizers.js';
import { chinesePoems, englishRecords } from './chinese-corpus.js';

// Trained on all poems but the last 400, measured on those.
const allPoems = chinesePoems();
const heldOut = allPoems.slice(-400);
const chinese = byteLevelTokenizerJson(
  trainByteLevelBpe(allPoems.slice(0, -400), { vocabSize: 16000, minFrequency: 2, specialTokens: ['<|endoftext|>'] }),
);

function extendedFolder(baseDir: string, name: string) {
  const base = JSON.parse(readFileSync(join(baseDir, 'tokenizer.json'), 'utf8'));
  const extended = extendBpeVocab(base, structuredClone(chinese) as never);
  const dir = tempDir(name);
  for (const f of ['tokenizer_config.json', 'special_tokens_map.json'])
    try {
      writeFileSync(join(dir, f), readFileSync(join(baseDir, f)));
    } catch {}
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(extended.tokenizerJson));
  return { base, extended, before: Tokenizer.fromDir(baseDir), after: Tokenizer.fromDir(dir) };
}

test('the tiny base: old ids kept, new ids follow the added tokens, the new pieces are produced', async () => {
  const { base, extended, before, after } = extendedFolder('examples/tiny/base', 'extend-tiny');
  assert.equal(extended.firstNewId, 8192, 'after <|im_end|> (8191), the last added token');
  const vocab = (extended.tokenizerJson.model as { vocab: Record<string, number> }).vocab;
  for (const [token, id] of Object.entries(base.model.vocab as Record<string, number>)) assert.equal(vocab[token], id);
  assert.deepEqual(
    extended.added.map((t) => vocab[t]),
    extended.added.map((_, i) => 8192 + i),
  );
  assert.ok(extended.added.length > 2000, `${extended.added.length} added`);
  assert.equal(after.tokenToId('<|im_end|>'), 8191);
  // English text, which the Chinese pieces do not touch, encodes exactly as before.
  for (const text of englishRecords(50))
    assert.deepEqual(await after.encode(text, { addSpecialTokens: false }), await before.encode(text));
  // Chinese text round-trips, uses the new ids, and needs fewer tokens.
  let newIds = 0;
  for (const text of heldOut.slice(0, 100)) {
    const ids = await after.encode(text, { addSpecialTokens: false });
    assert.equal(after.decode(ids), text);
    newIds += ids.filter((id) => id >= 8192).length;
  }
  assert.ok(newIds > 100, `${newIds} new ids used`);
  // Nearly every new piece encodes, on its own, to its own id.
  let self = 0;
  for (const token of extended.added) {
    const text = after.decode([after.tokenToId(token) as number]);
    const ids = await after.encode(text, { addSpecialTokens: false });
    if (ids.length === 1 && ids[0] === after.tokenToId(token)) self++;
  }
  assert.ok(self / extended.added.length > 0.95, `${self} of ${extended.added.length}`);
  const [b, a] = [await measureTokenizer(before, heldOut), await measureTokenizer(after, heldOut)];
  assert.ok(a.tokensPerHanChar < b.tokensPerHanChar / 1.1, `${b.tokensPerHanChar} -> ${a.tokensPerHanChar}`);
});

test("Llama-3's tokenizer extended with a Chinese one: at least 1.5x fewer tokens per Chinese character", async () => {
  const { extended, before, after } = extendedFolder(LENML.llama3, 'extend-llama3');
  assert.equal(extended.firstNewId, 128256, 'after the 256 reserved special tokens');
  const english = englishRecords(30);
  for (const text of english) assert.deepEqual(await after.encode(text), await before.encode(text));
  const [b, a] = [await measureTokenizer(before, heldOut), await measureTokenizer(after, heldOut)];
  const gain = b.tokensPerHanChar / a.tokensPerHanChar;
  console.log(`Llama-3 tokens per Chinese character: ${b.tokensPerHanChar} -> ${a.tokensPerHanChar} (${gain}x)`);
  assert.ok(gain >= 1.5, `tokens per Chinese character ${b.tokensPerHanChar} -> ${a.tokensPerHanChar}: ${gain}x`);
  for (const text of heldOut.slice(0, 50))
    assert.equal(after.decode(await after.encode(text, { addSpecialTokens: false })), text);
});

test("Mistral's SentencePiece-style BPE takes the pieces as characters: English unchanged, Chinese 1.8x+ cheaper", async () => {
  const { extended, before, after } = extendedFolder(LENML.mistral, 'extend-mistral');
  assert.equal(extended.firstNewId, 32000);
  // Pieces are characters with "▁" for spaces, never byte-level characters or partial UTF-8.
  assert.ok(extended.added.every((t) => !/[ĠĊ]/.test(t) && !t.includes('\uFFFD')));
  assert.ok(extended.added.includes('春风'), 'a common two-character word is a token');
  for (const text of englishRecords(30)) assert.deepEqual(await after.encode(text), await before.encode(text));
  for (const text of heldOut.slice(0, 50)) {
    const ids = await after.encode(text, { addSpecialTokens: false });
    assert.equal(after.decode(ids), text);
  }
  const [b, a] = [await measureTokenizer(before, heldOut), await measureTokenizer(after, heldOut)];
  const gain = b.tokensPerHanChar / a.tokensPerHanChar;
  console.log(`Mistral tokens per Chinese character: ${b.tokensPerHanChar} -> ${a.tokensPerHanChar} (${gain}x)`);
  // ~1.95x: the whole text is one word to this tokenizer, and its own merges keep priority over the appended ones.
  assert.ok(gain >= 1.8, `${gain}x`);
});

test('a unigram tokenizer.json is refused as base and as new tokenizer, and so is a BPE of another alphabet', () => {
  const mistral = JSON.parse(readFileSync(join(LENML.mistral, 'tokenizer.json'), 'utf8'));
  const unigram = { ...mistral, model: { type: 'Unigram', vocab: [['a', -1]] } };
  assert.throws(
    () => extendBpeVocab(unigram, structuredClone(chinese) as never),
    (e: unknown) => e instanceof TokenizerError && /must hold a BPE model/.test((e as Error).message),
  );
  assert.throws(
    () => extendBpeVocab(structuredClone(chinese) as never, unigram),
    (e: unknown) =>
      e instanceof TokenizerError && /the new tokenizer: tokenizer.json must hold a BPE/.test((e as Error).message),
  );
  // A BPE with neither a ByteLevel nor a "▁" scheme (e.g. a whitespace-split BPE) has no alphabet to map pieces into.
  const plain = { ...mistral, normalizer: null, pre_tokenizer: { type: 'Whitespace' } };
  assert.throws(
    () => extendBpeVocab(plain, structuredClone(chinese) as never),
    (e: unknown) =>
      e instanceof TokenizerError &&
      /only byte-level BPE tokenizers .* and SentencePiece-style/.test((e as Error).message),
  );
});
