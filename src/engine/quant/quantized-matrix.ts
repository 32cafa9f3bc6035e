/**
 * A frozen weight matrix W [rows = out, cols = in] stored as bitsandbytes stores it (native/src/kernels/quant.cc has
 * the layouts): NF4 / FP4 with one absmax per 64-value block (double quantization stores those as 8-bit codes with one
 * f32 scale per 256 blocks, offset by their mean), or LLM.int8()'s int8 rows with a per-row absmax (SCB).
 * Quantizing reads W once (f32, bf16 or f16) and keeps only the quantized bytes; products read them directly.
 * A GGUF base keeps its ggml blocks instead (Q8_0 / Q4_0 / Q5_0 / Q5_1 / Q4_K / Q5_K / Q6_K rows, native/src/kernels/ggml_dot.cc):
 * decoding reads them with integer dot products, as llama.cpp does.
 */
import { DTYPE_CODE } from '../dtype.js';
import { native } from '../native.js';
import { Storage } from '../storage.js';
import { Tensor } from '../tensor.js';
import { dynamicMap, FP4_CODE, NF4_CODE } from './codebooks.js';
import { GGML_BLOCK_TYPES } from './ggml-blocks.js';

/** The ggml block types a GGUF base keeps quantized (ggml's names, lower case). */
export type GgmlQuantType = 'q8_0' | 'q4_0' | 'q5_0' | 'q5_1' | 'q4_k' | 'q5_k' | 'q6_k';
export type QuantType = 'nf4' | 'fp4' | 'int8' | GgmlQuantType;

const GGML_FORMAT: Record<GgmlQuantType, (typeof GGML_BLOCK_TYPES)[keyof typeof GGML_BLOCK_TYPES]> = {
  q8_0: GGML_BLOCK_TYPES.Q8_0,
  q4_0: GGML_BLOCK_TYPES.Q4_0,
  q5_0: GGML_BLOCK_TYPES.Q5_0,
  q5_1: GGML_BLOCK_TYPES.Q5_1,
  q4_k: GGML_BLOCK_TYPES.Q4_K,
  q5_k: GGML_BLOCK_TYPES.Q5_K,
  q6_k: GGML_BLOCK_TYPES.Q6_K,
};

export function isGgmlQuantType(t: string): t is GgmlQuantType {
  return t in GGML_FORMAT;
}

export interface QuantizeOptions {
  type: QuantType;
  /** Values per absmax block (4-bit types); bitsandbytes' default 64. */
  blocksize?: number;
  /** Store the 4-bit block scales as 8-bit codes too (bnb_4bit_use_double_quant); default true. */
  doubleQuant?: boolean;
}

const TYPE_CODE: Record<'nf4' | 'fp4' | 'int8', number> = { nf4: 0, fp4: 1, int8: 2 };
/** Blocks of absmax values per nested scale in double quantization (bitsandbytes: 256). */
const NESTED_BLOCKSIZE = 256;

/** An f32 storage holding `values`. */
function f32Storage(values: ArrayLike<number>): Storage {
  const s = new Storage(values.length * 4, false);
  s.retain();
  native.write(s.handle, 0, Float32Array.from(values));
  return s;
}

function emptyStorage(bytes: number): Storage {
  const s = new Storage(Math.max(bytes, 1), false);
  s.retain();
  return s;
}

function readF32(s: Storage, n: number): Float32Array {
  const out = new Float32Array(n);
  native.read(s.handle, 0, out);
  return out;
}

/**
 * A quantized matrix's pieces as bitsandbytes serializes them (QuantState.as_dict; Int8Params' CB and SCB): the stored
 * bytes, the code books and the scales. Lengths follow from rows, cols and the block sizes.
 */
export interface QuantizedParts {
  type: QuantType;
  rows: number;
  cols: number;
  /** Values per absmax block (4-bit types). */
  blocksize?: number;
  /** 4-bit: ceil(rows * cols / 2) bytes, the first value of a byte in its high nibble; int8: rows * cols values. */
  data: Uint8Array;
  /** 4-bit: the 16-value code (quant_map). */
  code?: Float32Array;
  /** 4-bit, plain: one f32 absmax per block. */
  absmax?: Float32Array;
  /** 4-bit, double-quantized: one 8-bit code per block, its 256-value map, one f32 per nested block, the offset. */
  qabsmax?: Uint8Array;
  nestedCode?: Float32Array;
  nestedAbsmax?: Float32Array;
  nestedBlocksize?: number;
  offset?: number;
  /** int8: the row absmax (SCB). */
  scb?: Float32Array;
}

function bytesStorage(values: Uint8Array): Storage {
  const s = emptyStorage(values.length);
  native.write(s.handle, 0, values);
  return s;
}

export class QuantizedMatrix {
  /** Offset added to the dequantized block scales (double quantization: their mean). */
  private offset = 0;
  private nestedBlocksize = NESTED_BLOCKSIZE;
  private readonly buffers = new Map<string, Storage>();
  private freed = false;

  private constructor(
    readonly type: QuantType,
    readonly rows: number,
    readonly cols: number,
    readonly blocksize: number,
  ) {}

  /** W [rows, cols] from its ggml blocks (row-major, each row cols / block-size blocks), kept as they are. */
  static fromGgml(type: GgmlQuantType, rows: number, cols: number, blocks: Uint8Array): QuantizedMatrix {
    const f = GGML_FORMAT[type];
    if (cols % f.elements !== 0)
      throw new Error(`${type} [${rows}, ${cols}]: a row must be a whole number of ${f.elements}-value blocks`);
    const want = rows * (cols / f.elements) * f.bytes;
    if (blocks.length !== want)
      throw new Error(`${type} [${rows}, ${cols}]: ${blocks.length} bytes of blocks, expected ${want}`);
    const q = new QuantizedMatrix(type, rows, cols, f.elements);
    q.own('data', bytesStorage(blocks));
    return q;
  }

  /** Whether W is stored in ggml blocks (a GGUF base) rather than bitsandbytes' formats. */
  get ggml(): boolean {
    return isGgmlQuantType(this.type);
  }

  /** Quantizes w [rows, cols] (f32, bf16 or f16) as bitsandbytes' quantize_4bit / Int8Params do. */
  static quantize(w: Tensor, options: QuantizeOptions): QuantizedMatrix {
    if (isGgmlQuantType(options.type))
      throw new Error(`quantize: ${options.type} blocks come from a GGUF file; lmforge quantizes to nf4, fp4 or int8`);
    if (w.ndim !== 2) throw new Error(`quantize: a weight matrix [out, in] is expected, got [${w.shape.join(', ')}]`);
    if (w.dtype === 'i32') throw new Error('quantize: the weight must be f32, bf16 or f16, not i32');
    const [rows, cols] = w.shape as [number, number];
    const { type, blocksize = 64, doubleQuant = true } = options;
    const q = new QuantizedMatrix(type, rows, cols, type === 'int8' ? cols : blocksize);
    if (type === 'int8') {
      const data = q.own('data', emptyStorage(rows * cols));
      const scb = q.own('scb', emptyStorage(rows * 4));
      native.quantizeInt8Rows(w.handle, DTYPE_CODE[w.dtype], rows, cols, data.handle, scb.handle);
      return q;
    }
    if (!(Number.isInteger(blocksize) && blocksize >= 2 && blocksize % 2 === 0))
      throw new Error(`quantize: the block size must be an even integer >= 2, got ${blocksize}`);
    const n = rows * cols;
    const blocks = Math.ceil(n / blocksize);
    const code = q.own('code', f32Storage(type === 'nf4' ? NF4_CODE : FP4_CODE));
    const data = q.own('data', emptyStorage(Math.ceil(n / 2)));
    const absmax = emptyStorage(blocks * 4);
    native.quantize4bit(
      w.handle,
      DTYPE_CODE[w.dtype],
      n,
      TYPE_CODE[type],
      blocksize,
      code.handle,
      data.handle,
      absmax.handle,
    );
    if (!doubleQuant) {
      q.own('absmax', absmax);
      return q;
    }
    // bitsandbytes: offset = absmax.mean(); quantize_blockwise(absmax - offset, blocksize=256) with the dynamic map.
    const scales = readF32(absmax, blocks);
    absmax.release();
    let sum = 0;
    for (const s of scales) sum += s;
    q.offset = Math.fround(sum / blocks);
    const centred = f32Storage(scales.map((s) => s - q.offset));
    const nestedCode = q.own('nestedCode', f32Storage(dynamicMap()));
    const qabsmax = q.own('qabsmax', emptyStorage(blocks));
    const nested = q.own('nestedAbsmax', emptyStorage(Math.ceil(blocks / NESTED_BLOCKSIZE) * 4));
    native.quantizeBlockwise8(
      centred.handle,
      blocks,
      nestedCode.handle,
      NESTED_BLOCKSIZE,
      qabsmax.handle,
      nested.handle,
    );
    centred.release();
    return q;
  }

  /** A matrix from serialized pieces (a pre-quantized checkpoint); every length is checked against the shape. */
  static fromParts(p: QuantizedParts): QuantizedMatrix {
    const { type, rows, cols } = p;
    const n = rows * cols;
    const blocksize = type === 'int8' ? cols : (p.blocksize ?? 64);
    const expect = (what: string, got: number | undefined, want: number) => {
      if (got !== want)
        throw new Error(`quantized [${rows}, ${cols}] ${type}: ${what} has ${got ?? 'no'} values, expected ${want}`);
    };
    const q = new QuantizedMatrix(type, rows, cols, blocksize);
    try {
      if (type === 'int8') {
        expect('the int8 weight', p.data.length, n);
        expect('SCB', p.scb?.length, rows);
        q.own('data', bytesStorage(p.data));
        q.own('scb', f32Storage(p.scb as Float32Array));
        return q;
      }
      if (!(Number.isInteger(blocksize) && blocksize >= 2 && blocksize % 2 === 0))
        throw new Error(`quantized ${type}: the block size must be an even integer >= 2, got ${blocksize}`);
      const blocks = Math.ceil(n / blocksize);
      expect('the packed weight', p.data.length, Math.ceil(n / 2));
      expect('quant_map', p.code?.length, 16);
      q.own('code', f32Storage(p.code as Float32Array));
      q.own('data', bytesStorage(p.data));
      if (p.qabsmax) {
        const nb = p.nestedBlocksize ?? NESTED_BLOCKSIZE;
        expect('absmax (8-bit)', p.qabsmax.length, blocks);
        expect('nested_quant_map', p.nestedCode?.length, 256);
        expect('nested_absmax', p.nestedAbsmax?.length, Math.ceil(blocks / nb));
        q.offset = Math.fround(p.offset ?? 0);
        q.nestedBlocksize = nb;
        q.own('qabsmax', bytesStorage(p.qabsmax));
        q.own('nestedCode', f32Storage(p.nestedCode as Float32Array));
        q.own('nestedAbsmax', f32Storage(p.nestedAbsmax as Float32Array));
      } else {
        expect('absmax', p.absmax?.length, blocks);
        q.own('absmax', f32Storage(p.absmax as Float32Array));
      }
      return q;
    } catch (e) {
      q.dispose();
      throw e;
    }
  }

  /** The pieces, as fromParts takes them (saving in bitsandbytes' layout). */
  parts(): QuantizedParts {
    if (isGgmlQuantType(this.type))
      throw Object.assign(
        new Error(
          `the base is a GGUF file (${this.type} blocks), which saves only as GGUF: export it with export_format: gguf, or save the adapter alone`,
        ),
        { userFacing: true },
      );
    const read = (name: string, n: number) =>
      this.buffers.has(name) ? readF32(this.buffers.get(name) as Storage, n) : undefined;
    const base = { type: this.type, rows: this.rows, cols: this.cols, data: this.data() };
    if (this.type === 'int8') return { ...base, scb: read('scb', this.rows) as Float32Array };
    const blocks = Math.ceil((this.rows * this.cols) / this.blocksize);
    const out: QuantizedParts = { ...base, blocksize: this.blocksize, code: read('code', 16) as Float32Array };
    if (!this.doubleQuantized) return { ...out, absmax: read('absmax', blocks) as Float32Array };
    const qabsmax = new Uint8Array(blocks);
    native.read((this.buffers.get('qabsmax') as Storage).handle, 0, qabsmax);
    return {
      ...out,
      qabsmax,
      nestedCode: read('nestedCode', 256) as Float32Array,
      nestedAbsmax: read('nestedAbsmax', Math.ceil(blocks / this.nestedBlocksize)) as Float32Array,
      nestedBlocksize: this.nestedBlocksize,
      offset: this.offset,
    };
  }

  private own(name: string, s: Storage): Storage {
    this.buffers.set(name, s);
    return s;
  }

  get doubleQuantized(): boolean {
    return this.buffers.has('qabsmax');
  }

  /** Bytes the quantized form holds (data, scales and code books). */
  get bytes(): number {
    let n = 0;
    for (const s of this.buffers.values()) n += s.bytes;
    return n;
  }

  /** The layout the native kernels read (storage handles by name). */
  descriptor(): Record<string, unknown> {
    if (this.freed) throw new Error('use of a disposed quantized matrix');
    if (isGgmlQuantType(this.type))
      return {
        ggmlType: GGML_FORMAT[this.type].id,
        rows: this.rows,
        cols: this.cols,
        data: (this.buffers.get('data') as Storage).handle,
      };
    const d: Record<string, unknown> = {
      type: TYPE_CODE[this.type],
      rows: this.rows,
      cols: this.cols,
      blocksize: this.blocksize,
      offset: this.offset,
      nestedBlocksize: this.nestedBlocksize,
    };
    for (const [name, s] of this.buffers) d[name] = s.handle;
    return d;
  }

  /** W as f32 [rows, cols]. */
  dequantize(): Tensor {
    const out = Tensor.empty([this.rows, this.cols]);
    if (this.ggml) native.ggmlMatrixDequantize(this.descriptor(), out.handle);
    else native.quantDequantize(this.descriptor(), out.handle);
    return out;
  }

  /** The stored bytes: packed 4-bit indices (first value in the high nibble) or int8 values. */
  data(): Uint8Array {
    const s = this.buffers.get('data') as Storage;
    const length = isGgmlQuantType(this.type)
      ? this.rows * (this.cols / GGML_FORMAT[this.type].elements) * GGML_FORMAT[this.type].bytes
      : this.type === 'int8'
        ? this.rows * this.cols
        : Math.ceil((this.rows * this.cols) / 2);
    const out = new Uint8Array(length);
    native.read(s.handle, 0, out);
    return out;
  }

  /** The block scales (4-bit types; reconstructed from their 8-bit codes under double quantization) or SCB (int8). */
  scales(): Float32Array {
    if (isGgmlQuantType(this.type)) throw new Error(`scales(): ${this.type} keeps its scales inside the blocks`);
    if (this.type === 'int8') return readF32(this.buffers.get('scb') as Storage, this.rows);
    const blocks = Math.ceil((this.rows * this.cols) / this.blocksize);
    const plain = this.buffers.get('absmax');
    if (plain) return readF32(plain, blocks);
    const q = new Uint8Array(blocks);
    native.read((this.buffers.get('qabsmax') as Storage).handle, 0, q);
    const code = readF32(this.buffers.get('nestedCode') as Storage, 256);
    const nested = readF32(this.buffers.get('nestedAbsmax') as Storage, Math.ceil(blocks / this.nestedBlocksize));
    const f = Math.fround;
    return Float32Array.from(q, (c, b) =>
      f(f((code[c] as number) * (nested[Math.floor(b / this.nestedBlocksize)] as number)) + this.offset),
    );
  }

  get disposed(): boolean {
    return this.freed;
  }

  dispose(): void {
    if (this.freed) return;
    this.freed = true;
    for (const s of this.buffers.values()) s.release();
    this.buffers.clear();
  }
}
