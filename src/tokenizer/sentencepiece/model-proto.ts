/**
 * SentencePiece's `tokenizer.model`: a protobuf `ModelProto` (sentencepiece_model.proto), read with a small wire-format
 * reader. Only the fields tokenization needs are kept: the pieces (text, score, type), the trainer's model type,
 * byte fallback and special pieces, and the normalizer's dummy prefix and precompiled character map.
 */
import { TokenizerError } from '../errors.js';

/** SentencePiece.Type */
export const PIECE_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;
/** TrainerSpec.ModelType */
export const MODEL_TYPE = { UNIGRAM: 1, BPE: 2, WORD: 3, CHAR: 4 } as const;

export interface SentencePiece {
  piece: string;
  score: number;
  type: number;
}

export interface ModelProto {
  pieces: SentencePiece[];
  modelType: number;
  byteFallback: boolean;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  precompiledCharsmap: Uint8Array;
}

class Reader {
  pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly file: string,
  ) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.buf.length) throw new TokenizerError(`${this.file}: truncated protobuf varint`);
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new TokenizerError(`${this.file}: malformed protobuf varint`);
    }
  }

  /** An int32 field: negative values arrive as ten-byte varints whose low 32 bits are the two's complement. */
  int32(): number {
    let low = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.buf.length) throw new TokenizerError(`${this.file}: truncated protobuf varint`);
      const b = this.buf[this.pos++] as number;
      if (shift < 32) low |= (b & 0x7f) << shift;
      if (b < 0x80) return low | 0;
      shift += 7;
      if (shift > 63) throw new TokenizerError(`${this.file}: malformed protobuf varint`);
    }
  }

  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.buf.length) throw new TokenizerError(`${this.file}: truncated protobuf field`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  float(): number {
    if (this.pos + 4 > this.buf.length) throw new TokenizerError(`${this.file}: truncated protobuf float`);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new TokenizerError(`${this.file}: unsupported protobuf wire type ${wire} (not a sentencepiece model?)`);
  }

  /** Calls fn(field, wire) for each field of the message; fn returns false to have it skipped. */
  fields(fn: (field: number, wire: number) => boolean): void {
    while (!this.done) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (!fn(field, wire)) this.skip(wire);
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

function readPiece(buf: Uint8Array, file: string): SentencePiece {
  const r = new Reader(buf, file);
  const out: SentencePiece = { piece: '', score: 0, type: PIECE_TYPE.NORMAL };
  r.fields((field, wire) => {
    if (field === 1 && wire === 2) out.piece = utf8.decode(r.bytes());
    else if (field === 2 && wire === 5) out.score = r.float();
    else if (field === 3 && wire === 0) out.type = r.varint();
    else return false;
    return true;
  });
  return out;
}

/** Parses the bytes of a tokenizer.model; `file` names it in errors. */
export function parseModelProto(buf: Uint8Array, file: string): ModelProto {
  const model: ModelProto = {
    pieces: [],
    modelType: MODEL_TYPE.UNIGRAM,
    byteFallback: false,
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: -1,
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    precompiledCharsmap: new Uint8Array(0),
  };
  const top = new Reader(buf, file);
  top.fields((field, wire) => {
    if (wire !== 2) return false;
    if (field === 1) model.pieces.push(readPiece(top.bytes(), file));
    else if (field === 2) {
      const r = new Reader(top.bytes(), file);
      r.fields((f, w) => {
        if (w !== 0) return false;
        const signed = r.int32();
        const v = signed;
        if (f === 3) model.modelType = v;
        else if (f === 35) model.byteFallback = v !== 0;
        else if (f === 40) model.unkId = signed;
        else if (f === 41) model.bosId = signed;
        else if (f === 42) model.eosId = signed;
        else if (f === 43) model.padId = signed;
        return true;
      });
    } else if (field === 3) {
      const r = new Reader(top.bytes(), file);
      r.fields((f, w) => {
        if (f === 2 && w === 2) model.precompiledCharsmap = r.bytes().slice();
        else if (f === 3 && w === 0) model.addDummyPrefix = r.varint() !== 0;
        else if (f === 4 && w === 0) model.removeExtraWhitespaces = r.varint() !== 0;
        else return false;
        return true;
      });
    } else return false;
    return true;
  });
  if (model.pieces.length === 0) throw new TokenizerError(`${file}: no pieces: not a sentencepiece model`);
  return model;
}
