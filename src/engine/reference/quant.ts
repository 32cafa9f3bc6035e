/**
 * Float64 references for bitsandbytes' quantization (tests only), written from its definitions: a value is divided
 * by its block's absmax (multiplied by the float32 reciprocal, as bitsandbytes does), then takes the nearest code
 * value; NF4 rounds a value above a midpoint up, FP4 rounds the magnitude and keeps the sign bit; the 8-bit block
 * quantization of double quantization takes the nearest of the 256 dynamic-map values.
 */
const f = Math.fround;

export interface Quant4Ref {
  /** one index per value (0..15), in order */
  indices: Uint8Array;
  absmax: Float64Array;
}

/** The non-negative FP4 codes in increasing order, by index. */
const FP4_ORDER = [0, 1, 6, 7, 4, 5, 2, 3];

function nearestNf4(v: number, code: readonly number[]): number {
  let idx = 0;
  for (let i = 1; i < 16; i++) if (v > ((code[i - 1] as number) + (code[i] as number)) / 2) idx = i;
  return idx;
}

function nearestFp4(v: number, code: readonly number[]): number {
  const a = Math.abs(v);
  let idx = FP4_ORDER[0] as number;
  for (let i = 1; i < 8; i++) {
    const lo = code[FP4_ORDER[i - 1] as number] as number;
    const hi = code[FP4_ORDER[i] as number] as number;
    if (a > (lo + hi) / 2) idx = FP4_ORDER[i] as number;
  }
  return idx | (v < 0 ? 8 : 0);
}

export function quantize4bitRef(
  x: ArrayLike<number>,
  type: 'nf4' | 'fp4',
  code: readonly number[],
  blocksize: number,
): Quant4Ref {
  const n = x.length;
  const blocks = Math.ceil(n / blocksize);
  const indices = new Uint8Array(n);
  const absmax = new Float64Array(blocks);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let i = b * blocksize; i < Math.min(n, (b + 1) * blocksize); i++)
      amax = Math.max(amax, Math.abs(x[i] as number));
    absmax[b] = amax;
    const inv = amax > 0 ? f(1 / amax) : 0;
    for (let i = b * blocksize; i < Math.min(n, (b + 1) * blocksize); i++) {
      const v = f((x[i] as number) * inv);
      indices[i] = type === 'nf4' ? nearestNf4(v, code) : nearestFp4(v, code);
    }
  }
  return { indices, absmax };
}

/** Indices into a sorted 256-value code, per block of `blocksize`, and each block's absmax. */
export function quantizeBlockwise8Ref(
  x: ArrayLike<number>,
  code: ArrayLike<number>,
  blocksize: number,
): { q: Uint8Array; absmax: Float64Array } {
  const n = x.length;
  const blocks = Math.ceil(n / blocksize);
  const q = new Uint8Array(n);
  const absmax = new Float64Array(blocks);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let i = b * blocksize; i < Math.min(n, (b + 1) * blocksize); i++)
      amax = Math.max(amax, Math.abs(x[i] as number));
    absmax[b] = f(amax);
    const inv = amax > 0 ? f(1 / amax) : 0;
    for (let i = b * blocksize; i < Math.min(n, (b + 1) * blocksize); i++) {
      const v = f((x[i] as number) * inv);
      let best = 0;
      for (let c = 1; c < code.length; c++)
        if (Math.abs((code[c] as number) - v) < Math.abs((code[best] as number) - v)) best = c;
      q[i] = best;
    }
  }
  return { q, absmax };
}

/** LLM.int8()'s row-wise weight quantization: q = round(x * 127 / absmax(row)), half to even. */
export function quantizeInt8RowsRef(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
): { q: Int8Array; scb: Float64Array } {
  const q = new Int8Array(rows * cols);
  const scb = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let amax = 0;
    for (let c = 0; c < cols; c++) amax = Math.max(amax, Math.abs(x[r * cols + c] as number));
    scb[r] = amax;
    const s = amax > 0 ? f(127 / amax) : 0;
    for (let c = 0; c < cols; c++) {
      const v = f((x[r * cols + c] as number) * s);
      const fl = Math.floor(v);
      const d = v - fl;
      q[r * cols + c] = d > 0.5 || (d === 0.5 && fl % 2 !== 0) ? fl + 1 : fl;
    }
  }
  return { q, scb };
}
