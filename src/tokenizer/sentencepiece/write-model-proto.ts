/** Writes a SentencePiece ModelProto (tokenizer.model) in protobuf wire format: the fields model-proto.ts reads. */
import type { ModelProto } from './model-proto.js';

function varint(out: number[], n: number): void {
  if (n < 0) {
    // Negative int32 values are ten-byte varints of their 64-bit two's complement.
    let big = BigInt.asUintN(64, BigInt(n));
    while (big >= 0x80n) {
      out.push(Number(big & 0x7fn) | 0x80);
      big >>= 7n;
    }
    out.push(Number(big));
    return;
  }
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

function intField(out: number[], field: number, v: number): void {
  varint(out, field * 8);
  varint(out, v);
}

function bytesField(out: number[], field: number, bytes: ArrayLike<number>): void {
  varint(out, field * 8 + 2);
  varint(out, bytes.length);
  for (let i = 0; i < bytes.length; i++) out.push(bytes[i] as number);
}

function floatField(out: number[], field: number, v: number): void {
  varint(out, field * 8 + 5);
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, v, true);
  out.push(...b);
}

export function writeModelProto(model: ModelProto): Uint8Array {
  const out: number[] = [];
  const encoder = new TextEncoder();
  for (const p of model.pieces) {
    const piece: number[] = [];
    bytesField(piece, 1, encoder.encode(p.piece));
    floatField(piece, 2, p.score);
    intField(piece, 3, p.type);
    bytesField(out, 1, piece);
  }
  const trainer: number[] = [];
  intField(trainer, 3, model.modelType);
  intField(trainer, 35, model.byteFallback ? 1 : 0);
  intField(trainer, 40, model.unkId);
  intField(trainer, 41, model.bosId);
  intField(trainer, 42, model.eosId);
  intField(trainer, 43, model.padId);
  bytesField(out, 2, trainer);
  const normalizer: number[] = [];
  bytesField(normalizer, 1, encoder.encode('identity'));
  if (model.precompiledCharsmap.length > 0) bytesField(normalizer, 2, model.precompiledCharsmap);
  intField(normalizer, 3, model.addDummyPrefix ? 1 : 0);
  intField(normalizer, 4, model.removeExtraWhitespaces ? 1 : 0);
  bytesField(out, 3, normalizer);
  return Uint8Array.from(out);
}
