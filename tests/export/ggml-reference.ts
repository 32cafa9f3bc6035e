/**
 * A TypeScript transcription of llama.cpp's reference block quantizers (ggml-quants.c, the *_ref functions) and
 * their decoders, for tests only: every float operation is rounded to float32 (Math.fround) as C's float arithmetic
 * rounds it, so the native quantizer must produce exactly these bytes. Layouts: native/src/kernels/ggml_blocks.cc.
 */
import { f32ToF16Bits } from '../../src/export/index.js';

const f = Math.fround;
const QK = 256;

/** ggml's nearest_int: round to nearest, ties to even (the 1.5 * 2^23 trick). */
export function nearestInt(v: number): number {
  return f(v + 12582912) - 12582912;
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 31;
  const mant = h & 1023;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? Number.NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));
/** C's (int8_t) / (uint8_t) conversion of an in-range float: truncation toward zero. */
const trunc = Math.trunc;

function amaxSigned(x: Float32Array, from: number, n: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < n; j++) {
    const v = x[from + j] as number;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

function q4_0(x: Float32Array, at: number, y: DataView, o: number): void {
  const d = f(amaxSigned(x, at, 32) / -8);
  const id = d ? f(1 / d) : 0;
  y.setUint16(o, f32ToF16Bits(d), true);
  for (let j = 0; j < 16; j++) {
    const a = Math.min(15, trunc(f(f((x[at + j] as number) * id) + 8.5)));
    const b = Math.min(15, trunc(f(f((x[at + j + 16] as number) * id) + 8.5)));
    y.setUint8(o + 2 + j, a | (b << 4));
  }
}

function q5_0(x: Float32Array, at: number, y: DataView, o: number): void {
  const d = f(amaxSigned(x, at, 32) / -16);
  const id = d ? f(1 / d) : 0;
  y.setUint16(o, f32ToF16Bits(d), true);
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const a = Math.min(31, trunc(f(f((x[at + j] as number) * id) + 16.5)));
    const b = Math.min(31, trunc(f(f((x[at + j + 16] as number) * id) + 16.5)));
    y.setUint8(o + 6 + j, (a & 15) | ((b & 15) << 4));
    qh |= ((a >> 4) & 1) << j;
    qh |= ((b >> 4) & 1) << (j + 16);
  }
  y.setUint32(o + 2, qh >>> 0, true);
}

function q5_1(x: Float32Array, at: number, y: DataView, o: number): void {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < 32; j++) {
    min = Math.min(min, x[at + j] as number);
    max = Math.max(max, x[at + j] as number);
  }
  const d = f(f(max - min) / 31);
  const id = d ? f(1 / d) : 0;
  y.setUint16(o, f32ToF16Bits(d), true);
  y.setUint16(o + 2, f32ToF16Bits(min), true);
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const a = trunc(f(f(f((x[at + j] as number) - min) * id) + 0.5));
    const b = trunc(f(f(f((x[at + j + 16] as number) - min) * id) + 0.5));
    y.setUint8(o + 8 + j, (a & 15) | ((b & 15) << 4));
    qh |= ((a >> 4) & 1) << j;
    qh |= ((b >> 4) & 1) << (j + 16);
  }
  y.setUint32(o + 4, qh >>> 0, true);
}

/** make_qkx2_quants (use_mad false): returns [scale, -min] and fills L. */
function makeQkx2(
  n: number,
  nmax: number,
  x: Float32Array,
  w: Float32Array,
  L: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
): [number, number] {
  let min = x[0] as number;
  let max = x[0] as number;
  let sumW = w[0] as number;
  let sumX = f(sumW * (x[0] as number));
  for (let i = 1; i < n; i++) {
    const xi = x[i] as number;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    sumW = f(sumW + (w[i] as number));
    sumX = f(sumX + f((w[i] as number) * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, 0, n);
    return [0, -min];
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let best = 0;
  for (let i = 0; i < n; i++) {
    L[i] = clamp(nearestInt(f(iscale * f((x[i] as number) - min))), 0, nmax);
    const diff = f(f(f(scale * (L[i] as number)) + min) - (x[i] as number));
    best = f(best + f((w[i] as number) * f(diff * diff)));
  }
  const Laux = new Uint8Array(n);
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = clamp(nearestInt(f(iscale * f((x[i] as number) - min))), 0, nmax);
      Laux[i] = l;
      const wl = f((w[i] as number) * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * (x[i] as number)));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let err = 0;
      for (let i = 0; i < n; i++) {
        const diff = f(f(f(thisScale * (Laux[i] as number)) + thisMin) - (x[i] as number));
        err = f(err + f((w[i] as number) * f(diff * diff)));
      }
      if (err < best) {
        L.set(Laux.subarray(0, n));
        best = err;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}

/** make_qx_quants with rmse_type 1 (weights x^2), no importance weights: the scale; L holds level + nmax. */
function makeQx(n: number, nmax: number, x: Float32Array, L: Int8Array): number {
  let amax = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[i] as number);
    if (ax > amax) {
      amax = ax;
      max = x[i] as number;
    }
  }
  if (amax < f(1e-15)) {
    L.fill(0, 0, n);
    return 0;
  }
  const sums = (iscale: number, store: boolean): [number, number] => {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i] as number;
      const l = clamp(nearestInt(f(iscale * xi)), -nmax, nmax - 1);
      if (store) L[i] = l + nmax;
      const w = f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    return [sumlx, suml2];
  };
  let [sumlx, suml2] = sums(f(-nmax / max), true);
  let scale = suml2 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    const iscale = f(-f(nmax + f(f(0.1) * is)) / max);
    [sumlx, suml2] = sums(iscale, false);
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      sums(iscale, true);
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

function scaleMinK4(j: number, q: Uint8Array): [number, number] {
  if (j < 4) return [(q[j] as number) & 63, (q[j + 4] as number) & 63];
  return [
    ((q[j + 4] as number) & 0xf) | (((q[j - 4] as number) >> 6) << 4),
    ((q[j + 4] as number) >> 4) | (((q[j] as number) >> 6) << 4),
  ];
}

/** Q4_K / Q5_K: d, dmin, the 12 scale bytes and the 256 levels of one super-block. */
function kBlock(x: Float32Array, nmax: number, rmin: number, nstep: number) {
  const L = new Uint8Array(QK);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const sub = x.subarray(32 * j, 32 * j + 32);
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f((sub[l] as number) * (sub[l] as number)));
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    const w = sub.map((v) => f(avX + Math.abs(v)));
    const [s, m] = makeQkx2(32, nmax, sub, w, L.subarray(32 * j), rmin, f(0.1), nstep);
    scales[j] = s;
    mins[j] = m;
    if (s > maxScale) maxScale = s;
    if (m > maxMin) maxMin = m;
  }
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  const packed = new Uint8Array(12);
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, nearestInt(f(invScale * (scales[j] as number))) & 255);
    const lm = Math.min(63, nearestInt(f(invMin * (mins[j] as number))) & 255);
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      packed[j - 4] = (packed[j - 4] as number) | ((ls >> 4) << 6);
      packed[j] = (packed[j] as number) | ((lm >> 4) << 6);
    }
  }
  const dBits = f32ToF16Bits(f(maxScale / 63));
  const dminBits = f32ToF16Bits(f(maxMin / 63));
  for (let j = 0; j < 8; j++) {
    const [sc, m] = scaleMinK4(j, packed);
    const d = f(halfToFloat(dBits) * sc);
    if (!d) continue;
    const dm = f(halfToFloat(dminBits) * m);
    for (let ii = 0; ii < 32; ii++)
      L[32 * j + ii] = clamp(nearestInt(f(f((x[32 * j + ii] as number) + dm) / d)), 0, nmax);
  }
  return { dBits, dminBits, packed, L };
}

function q4_K(x: Float32Array, at: number, y: DataView, o: number): void {
  const { dBits, dminBits, packed, L } = kBlock(x.subarray(at, at + QK), 15, -1, 20);
  y.setUint16(o, dBits, true);
  y.setUint16(o + 2, dminBits, true);
  for (let i = 0; i < 12; i++) y.setUint8(o + 4 + i, packed[i] as number);
  for (let j = 0, q = o + 16; j < QK; j += 64, q += 32)
    for (let l = 0; l < 32; l++) y.setUint8(q + l, (L[j + l] as number) | ((L[j + l + 32] as number) << 4));
}

function q5_K(x: Float32Array, at: number, y: DataView, o: number): void {
  const { dBits, dminBits, packed, L } = kBlock(x.subarray(at, at + QK), 31, -0.5, 15);
  y.setUint16(o, dBits, true);
  y.setUint16(o + 2, dminBits, true);
  for (let i = 0; i < 12; i++) y.setUint8(o + 4 + i, packed[i] as number);
  const qh = new Uint8Array(32);
  for (let n = 0, k = 0; n < QK; n += 64, k++)
    for (let j = 0; j < 32; j++) {
      const l1 = L[n + j] as number;
      const l2 = L[n + j + 32] as number;
      qh[j] = (qh[j] as number) | ((l1 >> 4) << (2 * k)) | ((l2 >> 4) << (2 * k + 1));
      y.setUint8(o + 48 + 32 * k + j, (l1 & 15) | ((l2 & 15) << 4));
    }
  for (let j = 0; j < 32; j++) y.setUint8(o + 16 + j, qh[j] as number);
}

function q6_K(x: Float32Array, at: number, y: DataView, o: number): void {
  const L = new Int8Array(QK);
  const scales = new Float32Array(16);
  let maxScale = 0;
  let maxAbs = 0;
  for (let ib = 0; ib < 16; ib++) {
    scales[ib] = makeQx(16, 32, x.subarray(at + 16 * ib, at + 16 * ib + 16), L.subarray(16 * ib));
    const a = Math.abs(scales[ib] as number);
    if (a > maxAbs) {
      maxAbs = a;
      maxScale = scales[ib] as number;
    }
  }
  if (maxAbs < f(1e-15)) {
    for (let i = 0; i < 210; i++) y.setUint8(o + i, 0);
    return;
  }
  const iscale = f(-128 / maxScale);
  const dBits = f32ToF16Bits(f(1 / iscale));
  y.setUint16(o + 208, dBits, true);
  const sc = new Int8Array(16);
  for (let ib = 0; ib < 16; ib++) sc[ib] = Math.min(127, nearestInt(f(iscale * (scales[ib] as number))));
  for (let ib = 0; ib < 16; ib++) y.setInt8(o + 192 + ib, sc[ib] as number);
  for (let j = 0; j < 16; j++) {
    const d = f(halfToFloat(dBits) * (sc[j] as number));
    if (!d) continue;
    for (let ii = 0; ii < 16; ii++)
      L[16 * j + ii] = clamp(nearestInt(f((x[at + 16 * j + ii] as number) / d)), -32, 31) + 32;
  }
  for (let j = 0, ql = o, qh = o + 128; j < QK; j += 128, ql += 64, qh += 32)
    for (let l = 0; l < 32; l++) {
      const [a, b, c, e] = [L[j + l], L[j + l + 32], L[j + l + 64], L[j + l + 96]] as number[];
      y.setUint8(ql + l, ((a as number) & 15) | (((c as number) & 15) << 4));
      y.setUint8(ql + l + 32, ((b as number) & 15) | (((e as number) & 15) << 4));
      y.setUint8(
        qh + l,
        ((a as number) >> 4) | (((b as number) >> 4) << 2) | (((c as number) >> 4) << 4) | (((e as number) >> 4) << 6),
      );
    }
}

const QUANTIZERS = {
  Q4_0: [32, 18, q4_0],
  Q5_0: [32, 22, q5_0],
  Q5_1: [32, 24, q5_1],
  Q4_K: [QK, 144, q4_K],
  Q5_K: [QK, 176, q5_K],
  Q6_K: [QK, 210, q6_K],
} as const;
export type ReferenceType = keyof typeof QUANTIZERS;

export function referenceQuantize(values: Float32Array, type: ReferenceType): Uint8Array {
  const [elements, bytes, fn] = QUANTIZERS[type];
  const out = new Uint8Array((values.length / elements) * bytes);
  const view = new DataView(out.buffer);
  for (let b = 0; b < values.length / elements; b++) fn(values, b * elements, view, b * bytes);
  return out;
}

/** Decodes blocks as ggml's dequantize_row_* do (float32 products). */
export function referenceDequantize(bytes: Uint8Array, type: ReferenceType, n: number): Float32Array {
  const [elements, size] = QUANTIZERS[type];
  const out = new Float32Array(n);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const half = (o: number) => halfToFloat(v.getUint16(o, true));
  for (let b = 0; b < n / elements; b++) {
    const o = b * size;
    const y = b * elements;
    if (type === 'Q4_0') {
      const d = half(o);
      for (let j = 0; j < 16; j++) {
        out[y + j] = f(((v.getUint8(o + 2 + j) & 15) - 8) * d);
        out[y + j + 16] = f(((v.getUint8(o + 2 + j) >> 4) - 8) * d);
      }
    } else if (type === 'Q5_0' || type === 'Q5_1') {
      const one = type === 'Q5_1';
      const d = half(o);
      const m = one ? half(o + 2) : 0;
      const qh = v.getUint32(o + (one ? 4 : 2), true);
      const qs = o + (one ? 8 : 6);
      for (let j = 0; j < 16; j++) {
        const lo = (v.getUint8(qs + j) & 15) | (((qh >>> j) & 1) << 4);
        const hi = (v.getUint8(qs + j) >> 4) | (((qh >>> (j + 16)) & 1) << 4);
        out[y + j] = one ? f(f(lo * d) + m) : f((lo - 16) * d);
        out[y + j + 16] = one ? f(f(hi * d) + m) : f((hi - 16) * d);
      }
    } else if (type === 'Q4_K' || type === 'Q5_K') {
      const five = type === 'Q5_K';
      const d = half(o);
      const min = half(o + 2);
      const packed = bytes.subarray(o + 4, o + 16);
      const qs = o + (five ? 48 : 16);
      for (let k = 0; k < 4; k++)
        for (let half2 = 0; half2 < 2; half2++) {
          const [sc, m] = scaleMinK4(2 * k + half2, packed);
          const d1 = f(d * sc);
          const m1 = f(min * m);
          for (let l = 0; l < 32; l++) {
            const byte = v.getUint8(qs + 32 * k + l);
            let q = half2 ? byte >> 4 : byte & 15;
            if (five && (v.getUint8(o + 16 + l) >> (2 * k + half2)) & 1) q += 16;
            out[y + 64 * k + 32 * half2 + l] = f(f(d1 * q) - m1);
          }
        }
    } else {
      const d = half(o + 208);
      for (let i = 0; i < QK; i++) {
        const part = i >> 7;
        const r = i & 127;
        const l = r & 31;
        const quarter = r >> 5;
        const low = v.getUint8(o + 64 * part + l + (quarter & 1 ? 32 : 0));
        const q4 = quarter < 2 ? low & 15 : low >> 4;
        const hi = (v.getUint8(o + 128 + 32 * part + l) >> (2 * quarter)) & 3;
        const sc = v.getInt8(o + 192 + 8 * part + 2 * quarter + (l >> 4));
        out[y + i] = f(f(d * sc) * ((q4 | (hi << 4)) - 32));
      }
    }
  }
  return out;
}
