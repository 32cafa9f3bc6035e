import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attention, liveBytes, native, noGrad, scope, Tensor, withMatmulPrecision } from '../../src/engine/index.js';
import {
  type AttentionDims,
  type AttentionRefOptions,
  attentionBackwardRef,
  attentionRef,
} from '../../src/engine/reference/attention.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose, maxAbsDiff } from '../util/assert.js';
import { assertGradient, dot } from '../util/gradcheck.js';
import { availableIsas, bf16Caps, withBf16Cap, withIsa } from '../util/isa.js';
import { Rng } from '../util/random.js';

interface Case {
  name: string;
  dims: AttentionDims;
  opts?: AttentionRefOptions & { keyMaskRows?: number[][]; segmentRows?: number[][] };
}

// Odd and round shapes; tile edges (32 query rows forward, 64 in the backward, 64 keys), GQA groups, decode (T < S),
// non-causal, padding on either side, packed segments, a non-default scale.
const CASES: Case[] = [
  { name: 'odd MHA', dims: { B: 2, T: 5, S: 5, H: 3, KVH: 3, D: 7 } },
  { name: 'round GQA', dims: { B: 1, T: 64, S: 64, H: 4, KVH: 2, D: 64 } },
  { name: 'tile edges GQA 3', dims: { B: 1, T: 97, S: 97, H: 3, KVH: 1, D: 20 } },
  { name: 'long, keys split into chunks', dims: { B: 1, T: 300, S: 300, H: 2, KVH: 1, D: 16 } },
  { name: 'head dim 128', dims: { B: 1, T: 20, S: 20, H: 2, KVH: 1, D: 128 } },
  { name: 'head dim 256', dims: { B: 1, T: 7, S: 9, H: 2, KVH: 2, D: 256 } },
  { name: 'decode step', dims: { B: 2, T: 1, S: 9, H: 2, KVH: 1, D: 16 } },
  { name: 'chunk of queries after a cache', dims: { B: 1, T: 3, S: 70, H: 2, KVH: 2, D: 17 } },
  { name: 'non-causal', dims: { B: 2, T: 6, S: 11, H: 2, KVH: 1, D: 9 }, opts: { causal: false, scale: 0.3 } },
  {
    name: 'right and left padding',
    dims: { B: 2, T: 8, S: 8, H: 2, KVH: 1, D: 8 },
    opts: {
      keyMaskRows: [
        [1, 1, 1, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 1, 1, 1],
      ],
    },
  },
  {
    name: 'packed segments',
    dims: { B: 1, T: 70, S: 70, H: 2, KVH: 1, D: 12 },
    opts: { segmentRows: [Array.from({ length: 70 }, (_, i) => (i < 23 ? 0 : i < 66 ? 1 : 2))] },
  },
  { name: 'explicit query offset', dims: { B: 1, T: 4, S: 10, H: 1, KVH: 1, D: 5 }, opts: { queryOffset: 2 } },
  // Sliding windows: smaller than, equal to and larger than T; one key (itself); spanning several key tiles; over a
  // KV cache (decode step, and a chunk at an explicit offset with padding); with packed segments and left padding.
  { name: 'window < T, GQA', dims: { B: 2, T: 70, S: 70, H: 4, KVH: 2, D: 12 }, opts: { slidingWindow: 5 } },
  { name: 'window over key tiles', dims: { B: 1, T: 150, S: 150, H: 2, KVH: 1, D: 16 }, opts: { slidingWindow: 70 } },
  { name: 'window == T', dims: { B: 1, T: 9, S: 9, H: 2, KVH: 2, D: 7 }, opts: { slidingWindow: 9 } },
  { name: 'window > T', dims: { B: 1, T: 9, S: 9, H: 3, KVH: 1, D: 5 }, opts: { slidingWindow: 20 } },
  { name: 'window of 1', dims: { B: 1, T: 7, S: 7, H: 2, KVH: 1, D: 6 }, opts: { slidingWindow: 1 } },
  { name: 'window, decode step', dims: { B: 2, T: 1, S: 90, H: 2, KVH: 1, D: 16 }, opts: { slidingWindow: 8 } },
  {
    name: 'window, chunk at an offset with padding',
    dims: { B: 1, T: 5, S: 80, H: 2, KVH: 2, D: 9 },
    opts: {
      queryOffset: 60,
      slidingWindow: 7,
      keyMaskRows: [Array.from({ length: 80 }, (_, j) => (j === 58 || j === 62 || j > 70 ? 0 : 1))],
    },
  },
  {
    name: 'window, packed segments',
    dims: { B: 1, T: 70, S: 70, H: 2, KVH: 1, D: 8 },
    opts: { slidingWindow: 9, segmentRows: [Array.from({ length: 70 }, (_, i) => (i < 30 ? 0 : 1))] },
  },
  {
    name: 'window, left padding',
    dims: { B: 2, T: 8, S: 8, H: 2, KVH: 1, D: 8 },
    opts: {
      slidingWindow: 3,
      keyMaskRows: [
        [1, 1, 1, 1, 1, 1, 1, 1],
        [0, 0, 0, 1, 1, 1, 1, 1],
      ],
    },
  },
  // Soft-capping (Gemma 2): small caps saturate the tanh; with GQA, a window, padding and a scale not 1/sqrt(D).
  { name: 'softcap, GQA', dims: { B: 1, T: 70, S: 70, H: 4, KVH: 2, D: 12 }, opts: { softcap: 2.5 } },
  {
    name: 'softcap, window, padding, scale',
    dims: { B: 2, T: 9, S: 9, H: 2, KVH: 1, D: 8 },
    opts: {
      softcap: 1.5,
      slidingWindow: 4,
      scale: 0.9,
      keyMaskRows: [
        [1, 1, 1, 1, 1, 1, 1, 0, 0],
        [0, 0, 1, 1, 1, 1, 1, 1, 1],
      ],
    },
  },
  { name: 'softcap, decode step', dims: { B: 2, T: 1, S: 9, H: 2, KVH: 1, D: 16 }, opts: { softcap: 50 } },
  // ALiBi (Baichuan 2 13B): slopes per query head, over key tiles, with padding, decode and a KV-cache offset.
  {
    name: 'alibi over key tiles',
    dims: { B: 1, T: 90, S: 90, H: 4, KVH: 4, D: 8 },
    opts: { alibiSlopes: [0.5, 0.25, 0.125, 0.0625] },
  },
  {
    name: 'alibi, padding',
    dims: { B: 2, T: 8, S: 8, H: 3, KVH: 3, D: 8 },
    opts: {
      alibiSlopes: [0.7, 0.3, 0.05],
      keyMaskRows: [
        [1, 1, 1, 1, 1, 1, 0, 0],
        [0, 0, 1, 1, 1, 1, 1, 1],
      ],
    },
  },
  {
    name: 'alibi, chunk after a cache',
    dims: { B: 1, T: 3, S: 70, H: 2, KVH: 2, D: 5 },
    opts: { alibiSlopes: [0.2, 0.02] },
  },
];

function numel(d: number[]): number {
  return d.reduce((a, b) => a * b, 1);
}

interface Inputs {
  q: { f32: Float32Array; f64: Float64Array };
  k: { f32: Float32Array; f64: Float64Array };
  v: { f32: Float32Array; f64: Float64Array };
  dout: { f32: Float32Array; f64: Float64Array };
  refOpts: AttentionRefOptions;
}

function makeInputs(c: Case, rng: Rng, lo = -2, hi = 2): Inputs {
  const { B, T, S, H, KVH, D } = c.dims;
  const refOpts: AttentionRefOptions = { ...c.opts };
  if (c.opts?.keyMaskRows) refOpts.keyMask = c.opts.keyMaskRows.flat();
  if (c.opts?.segmentRows) refOpts.segmentIds = c.opts.segmentRows.flat();
  return {
    q: rng.floats(numel([B, T, H, D]), lo, hi),
    k: rng.floats(numel([B, S, KVH, D]), lo, hi),
    v: rng.floats(numel([B, S, KVH, D])),
    dout: rng.floats(numel([B, T, H, D])),
    refOpts,
  };
}

/** Runs the native op with autograd; returns out, dq, dk, dv as float32 arrays. */
function runNative(c: Case, x: Inputs): { out: Float32Array; dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const { B, T, S, H, KVH, D } = c.dims;
  return scope(() => {
    const q = Tensor.from(x.q.f32, [B, T, H, D]).requiresGrad_();
    const k = Tensor.from(x.k.f32, [B, S, KVH, D]).requiresGrad_();
    const v = Tensor.from(x.v.f32, [B, S, KVH, D]).requiresGrad_();
    const keyMask = x.refOpts.keyMask ? Tensor.from(x.refOpts.keyMask, [B, S], 'i32') : undefined;
    const segmentIds = x.refOpts.segmentIds ? Tensor.from(x.refOpts.segmentIds, [B, T], 'i32') : undefined;
    const slopes = x.refOpts.alibiSlopes;
    const alibiSlopes = slopes ? Tensor.from(Float32Array.from(slopes), [H]) : undefined;
    const opts = { ...c.opts, keyMask, segmentIds, alibiSlopes };
    const out = attention(q, k, v, opts);
    const res = { out: out.toFloat32Array() };
    out.backward(Tensor.from(x.dout.f32, [B, T, H, D]));
    const grads = { dq: q.grad?.toFloat32Array(), dk: k.grad?.toFloat32Array(), dv: v.grad?.toFloat32Array() };
    for (const t of [q, k, v]) t.grad?.dispose();
    if (!grads.dq || !grads.dk || !grads.dv) throw new Error('attention: a gradient is missing');
    return { ...res, dq: grads.dq, dk: grads.dk, dv: grads.dv };
  });
}

function checkAgainstReference(label: string) {
  const rng = new Rng(11);
  for (const c of CASES) {
    const x = makeInputs(c, rng);
    const got = runNative(c, x);
    const out = attentionRef(x.q.f64, x.k.f64, x.v.f64, c.dims, x.refOpts);
    const g = attentionBackwardRef(x.q.f64, x.k.f64, x.v.f64, x.dout.f64, c.dims, x.refOpts);
    const tol = { atol: 2e-5, rtol: 1e-4 };
    assertClose(got.out, out, tol, `${label} ${c.name}: out`);
    assertClose(got.dq, g.dq, tol, `${label} ${c.name}: dq`);
    assertClose(got.dk, g.dk, tol, `${label} ${c.name}: dk`);
    assertClose(got.dv, g.dv, tol, `${label} ${c.name}: dv`);
  }
}

test('attention forward and backward match the float64 reference on odd and round shapes', () => {
  checkAgainstReference(native.isa());
});

test('attention: every ISA path matches the reference', () => {
  const prev = native.isa();
  const f = native.cpuFeatures();
  const paths: ('portable' | 'avx2' | 'avx512')[] = ['portable'];
  if (f.avx2Fma) paths.push('avx2');
  if (f.avx512) paths.push('avx512');
  try {
    for (const p of paths) {
      assert.equal(native.setIsa(p), p);
      checkAgainstReference(p);
    }
  } finally {
    native.setIsa(prev);
  }
});

test('attention under bf16 precision: every path gives the same results, within the bf16 bound of f32', () => {
  // bf16 compute rounds q, k, v, dout and the p / ds tiles to bf16 before each product (sums, softmax, lse f32):
  // against the float64 reference on bf16-rounded q, k, v the output moves by the rounding of p (|dp| <= 2^-9 p,
  // sum p = 1, |v| <= 1: <= 2^-9), the gradients by that of p, ds and dout (a few 2^-9 relative). The paths round
  // the same values and differ only in the order of f32 sums (and, rarely, an exp an ulp apart rounding to another
  // bf16), so they agree far more closely than with f32.
  const round = (x: Float32Array) => Tensor.from(x, [x.length]).to('bf16').toFloat32Array();
  const both = (x: Float32Array) => ({ f32: x, f64: Float64Array.from(x) });
  const rng = new Rng(19);
  for (const c of CASES) {
    const x = makeInputs(c, rng);
    const f32 = runNative(c, x);
    const r = { ...x, q: both(round(x.q.f32)), k: both(round(x.k.f32)), v: both(round(x.v.f32)) };
    const want = attentionRef(r.q.f64, r.k.f64, r.v.f64, c.dims, x.refOpts);
    const g = attentionBackwardRef(r.q.f64, r.k.f64, r.v.f64, x.dout.f64, c.dims, x.refOpts);
    let first: ReturnType<typeof runNative> | null = null;
    for (const cap of bf16Caps())
      withBf16Cap(cap, () => {
        const got = withMatmulPrecision('bf16', () => runNative(c, x));
        const label = `${cap} ${c.name}`;
        assertClose(got.out, want, { atol: 2 ** -8, rtol: 0 }, `${label}: out`);
        const grad = { atol: 2 ** -6, rtol: 2 ** -6 };
        assertClose(got.dq, g.dq, grad, `${label}: dq`);
        assertClose(got.dk, g.dk, grad, `${label}: dk`);
        assertClose(got.dv, g.dv, grad, `${label}: dv`);
        if (!first) first = got;
        else
          for (const key of ['out', 'dq', 'dk', 'dv'] as const)
            assertClose(got[key], first[key], { atol: 2e-3, rtol: 2e-3 }, `${label}: ${key} vs ${bf16Caps()[0]}`);
      });
    // A different computation from f32 (inputs are not bf16 values): the rounding shows in the output.
    const bf = withMatmulPrecision('bf16', () => runNative(c, x));
    assert.ok(maxAbsDiff(bf.out, f32.out) > 1e-5, `${c.name}: bf16 output equals f32's`);
  }
});

test('attention matches the reference on random shapes, masks and offsets', () => {
  const rng = new Rng(17);
  for (let n = 0; n < 25; n++) {
    const KVH = 1 + rng.int(3);
    const H = KVH * (1 + rng.int(3));
    const T = 1 + rng.int(40);
    const S = rng.next() < 0.5 ? T : T + rng.int(80);
    const B = 1 + rng.int(2);
    const dims: AttentionDims = { B, T, S, H, KVH, D: 1 + rng.int(40) };
    const opts: Case['opts'] = { causal: rng.next() < 0.8 };
    if (rng.next() < 0.5)
      opts.keyMaskRows = Array.from({ length: B }, () => Array.from({ length: S }, () => (rng.next() < 0.8 ? 1 : 0)));
    if (S === T && rng.next() < 0.3)
      opts.segmentRows = Array.from({ length: B }, () =>
        Array.from({ length: T }, (_, t) => Math.floor(t / (1 + rng.int(9)))),
      );
    if (rng.next() < 0.3) opts.queryOffset = rng.int(S);
    if (opts.causal && rng.next() < 0.4) opts.slidingWindow = 1 + rng.int(T + 8);
    const c: Case = { name: `random ${n} ${JSON.stringify(dims)}`, dims, opts };
    const x = makeInputs(c, rng);
    const got = runNative(c, x);
    const g = attentionBackwardRef(x.q.f64, x.k.f64, x.v.f64, x.dout.f64, dims, x.refOpts);
    const tol = { atol: 2e-5, rtol: 1e-4 };
    assertClose(got.out, attentionRef(x.q.f64, x.k.f64, x.v.f64, dims, x.refOpts), tol, `${c.name}: out`);
    assertClose(got.dq, g.dq, tol, `${c.name}: dq`);
    assertClose(got.dk, g.dk, tol, `${c.name}: dk`);
    assertClose(got.dv, g.dv, tol, `${c.name}: dv`);
  }
});

test('attention reference backward matches finite differences (GQA, padding, causal)', () => {
  const rng = new Rng(12);
  const dims: AttentionDims = { B: 2, T: 4, S: 5, H: 2, KVH: 1, D: 3 };
  const opts: AttentionRefOptions = { keyMask: [1, 1, 1, 1, 0, 0, 1, 1, 1, 1], scale: 0.7 };
  const x = makeInputs({ name: 'fd', dims }, rng);
  const w = x.dout.f64;
  const g = attentionBackwardRef(x.q.f64, x.k.f64, x.v.f64, w, dims, opts);
  const loss = (q: Float64Array, k: Float64Array, v: Float64Array) => dot(attentionRef(q, k, v, dims, opts), w);
  assertGradient((q) => loss(q, x.k.f64, x.v.f64), x.q.f64, g.dq, {}, 'dq');
  assertGradient((k) => loss(x.q.f64, k, x.v.f64), x.k.f64, g.dk, {}, 'dk');
  assertGradient((v) => loss(x.q.f64, x.k.f64, v), x.v.f64, g.dv, {}, 'dv');
});

test('attention reference backward with a sliding window matches finite differences (offset, padding, GQA)', () => {
  const rng = new Rng(18);
  const dims: AttentionDims = { B: 2, T: 4, S: 7, H: 2, KVH: 1, D: 3 };
  const opts: AttentionRefOptions = { slidingWindow: 2, keyMask: [1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0] };
  const x = makeInputs({ name: 'fd window', dims }, rng);
  const w = x.dout.f64;
  const g = attentionBackwardRef(x.q.f64, x.k.f64, x.v.f64, w, dims, opts);
  const loss = (q: Float64Array, k: Float64Array, v: Float64Array) => dot(attentionRef(q, k, v, dims, opts), w);
  assertGradient((q) => loss(q, x.k.f64, x.v.f64), x.q.f64, g.dq, {}, 'dq');
  assertGradient((k) => loss(x.q.f64, k, x.v.f64), x.k.f64, g.dk, {}, 'dk');
  assertGradient((v) => loss(x.q.f64, x.k.f64, v), x.v.f64, g.dv, {}, 'dv');
  // The window changes the result: without it the same inputs give another output.
  const full = attentionRef(x.q.f64, x.k.f64, x.v.f64, dims, { keyMask: opts.keyMask });
  assert.ok(maxAbsDiff(full, attentionRef(x.q.f64, x.k.f64, x.v.f64, dims, opts)) > 1e-3);
});

test('attention reference backward with soft-capping matches finite differences, and the cap changes the result', () => {
  const rng = new Rng(21);
  const dims: AttentionDims = { B: 1, T: 5, S: 5, H: 2, KVH: 1, D: 4 };
  const opts: AttentionRefOptions = { softcap: 0.8, scale: 1.3 };
  const x = makeInputs({ name: 'fd softcap', dims }, rng);
  const w = x.dout.f64;
  const g = attentionBackwardRef(x.q.f64, x.k.f64, x.v.f64, w, dims, opts);
  const loss = (q: Float64Array, k: Float64Array, v: Float64Array) => dot(attentionRef(q, k, v, dims, opts), w);
  assertGradient((q) => loss(q, x.k.f64, x.v.f64), x.q.f64, g.dq, {}, 'dq');
  assertGradient((k) => loss(x.q.f64, k, x.v.f64), x.k.f64, g.dk, {}, 'dk');
  assertGradient((v) => loss(x.q.f64, x.k.f64, v), x.v.f64, g.dv, {}, 'dv');
  const alibi: AttentionRefOptions = { alibiSlopes: [0.3, 0.6], softcap: 2 };
  const ga = attentionBackwardRef(x.q.f64, x.k.f64, x.v.f64, w, dims, alibi);
  const lossA = (q: Float64Array, k: Float64Array) => dot(attentionRef(q, k, x.v.f64, dims, alibi), w);
  assertGradient((q) => lossA(q, x.k.f64), x.q.f64, ga.dq, {}, 'dq with ALiBi');
  assertGradient((k) => lossA(x.q.f64, k), x.k.f64, ga.dk, {}, 'dk with ALiBi');
  const uncapped = attentionRef(x.q.f64, x.k.f64, x.v.f64, dims, { scale: 1.3 });
  assert.ok(maxAbsDiff(uncapped, attentionRef(x.q.f64, x.k.f64, x.v.f64, dims, opts)) > 1e-3);
  assert.throws(
    () =>
      scope(() =>
        attention(Tensor.zeros([1, 2, 1, 4]), Tensor.zeros([1, 2, 1, 4]), Tensor.zeros([1, 2, 1, 4]), { softcap: 0 }),
      ),
    /softcap must be a finite number > 0/,
  );
});

test('attention: a sliding window never reads key tiles outside every window (forward and backward)', () => {
  // Queries at absolute positions 192..199 with a window of 16 see keys 177..199: key tiles [0, 64) and [64, 128)
  // are outside every window. NaN there would reach out (0 * NaN in p @ v) or dq (ds @ k) if those tiles were read.
  const dims: AttentionDims = { B: 1, T: 8, S: 200, H: 2, KVH: 1, D: 8 };
  const c: Case = { name: 'skipped tiles', dims, opts: { slidingWindow: 16 } };
  const x = makeInputs(c, new Rng(19));
  for (const arr of [x.k, x.v]) {
    arr.f32.fill(Number.NaN, 0, 128 * 8);
    arr.f64.fill(Number.NaN, 0, 128 * 8);
  }
  for (const isa of availableIsas())
    withIsa(isa, () => {
      const got = runNative(c, x);
      const g = attentionBackwardRef(x.q.f64, x.k.f64, x.v.f64, x.dout.f64, dims, x.refOpts);
      const tol = { atol: 2e-5, rtol: 1e-4 };
      assertClose(got.out, attentionRef(x.q.f64, x.k.f64, x.v.f64, dims, x.refOpts), tol, `${isa} out`);
      assertClose(got.dq, g.dq, tol, `${isa} dq`);
      assert.ok(
        got.dk.subarray(0, 177 * 8).every((d) => d === 0),
        `${isa}: dk of keys outside every window is 0`,
      );
      assert.ok(
        got.dv.subarray(0, 177 * 8).every((d) => d === 0),
        `${isa}: dv of keys outside every window is 0`,
      );
      assertClose(got.dk.subarray(177 * 8), g.dk.subarray(177 * 8), tol, `${isa} dk`);
      assertClose(got.dv.subarray(177 * 8), g.dv.subarray(177 * 8), tol, `${isa} dv`);
    });
});

test('attention: fully masked rows give output 0 and gradient 0, never NaN', () => {
  // Row 1 is left-padded by 3: its queries 0..2 see no key. Row 0's last query is padded but sees earlier keys.
  const c = CASES.find((k) => k.name === 'right and left padding') as Case;
  const x = makeInputs(c, new Rng(13));
  const got = runNative(c, x);
  const { T, H, D } = c.dims;
  for (const arr of [got.out, got.dq, got.dk, got.dv]) assert.ok(arr.every(Number.isFinite), 'no NaN or inf');
  for (let t = 0; t < 3; t++)
    for (let i = 0; i < H * D; i++) {
      assert.equal(got.out[(T + t) * H * D + i], 0, `out of fully masked query ${t}`);
      assert.equal(got.dq[(T + t) * H * D + i], 0, `dq of fully masked query ${t}`);
    }
});

test('attention: results are bit-identical with 1 and 2 threads', () => {
  const c: Case = { name: 'threads', dims: { B: 2, T: 70, S: 70, H: 4, KVH: 2, D: 24 } };
  const x = makeInputs(c, new Rng(14));
  const one = withThreads(1, () => runNative(c, x));
  const two = withThreads(2, () => runNative(c, x));
  assert.deepEqual(two, one);
});

test('attention: sliding-window results are bit-identical with 1 and 2 threads', () => {
  const c: Case = {
    name: 'threads window',
    dims: { B: 1, T: 200, S: 200, H: 3, KVH: 1, D: 16 },
    opts: { slidingWindow: 40 },
  };
  const x = makeInputs(c, new Rng(20));
  const one = withThreads(1, () => runNative(c, x));
  const two = withThreads(2, () => runNative(c, x));
  assert.deepEqual(two, one);
});

test('attention: with a sliding window, decode steps over a cache equal the rows of the full forward', () => {
  const dims: AttentionDims = { B: 1, T: 12, S: 12, H: 3, KVH: 1, D: 8 };
  const x = makeInputs({ name: 'full', dims }, new Rng(21));
  scope(() => {
    // The cache holds 16 slots; slots 12.. are unwritten zeros that causality hides.
    const kc = new Float32Array(16 * 8);
    const vc = new Float32Array(16 * 8);
    kc.set(x.k.f32);
    vc.set(x.v.f32);
    const k = Tensor.from(kc, [1, 16, 1, 8]);
    const v = Tensor.from(vc, [1, 16, 1, 8]);
    const opts = { slidingWindow: 4 };
    const full = attention(Tensor.from(x.q.f32, [1, 12, 3, 8]), k, v, { ...opts, queryOffset: 0 }).toFloat32Array();
    for (let t = 0; t < 12; t++) {
      const q = Tensor.from(x.q.f32.subarray(t * 24, (t + 1) * 24), [1, 1, 3, 8]);
      const step = attention(q, k, v, { ...opts, queryOffset: t }).toFloat32Array();
      assert.deepEqual(step, full.subarray(t * 24, (t + 1) * 24), `step ${t}`);
    }
  });
});

test('attention: a decode step over the cache equals the last row of the full forward', () => {
  const dims: AttentionDims = { B: 1, T: 12, S: 12, H: 3, KVH: 1, D: 8 };
  const x = makeInputs({ name: 'full', dims }, new Rng(15));
  scope(() => {
    const k = Tensor.from(x.k.f32, [1, 12, 1, 8]);
    const v = Tensor.from(x.v.f32, [1, 12, 1, 8]);
    const full = attention(Tensor.from(x.q.f32, [1, 12, 3, 8]), k, v).toFloat32Array();
    const last = attention(Tensor.from(x.q.f32.subarray(11 * 24), [1, 1, 3, 8]), k, v).toFloat32Array();
    assert.deepEqual(last, full.subarray(11 * 24));
  });
});

test('attention rejects mismatched shapes with a clear message', () => {
  scope(() => {
    const q = Tensor.zeros([1, 2, 3, 4]);
    const kv = Tensor.zeros([1, 2, 2, 4]);
    assert.throws(() => attention(q, kv, kv), /3 query heads cannot share 2 KV heads/);
    assert.throws(() => attention(q, Tensor.zeros([1, 2, 1, 5]), Tensor.zeros([1, 2, 1, 5])), /does not match q/);
    const k1 = Tensor.zeros([1, 2, 1, 4]);
    assert.throws(() => attention(q, k1, k1, { keyMask: Tensor.zeros([1, 2]) }), /keyMask must be i32 \[1, 2\]/);
    assert.throws(() => attention(q, k1, k1, { queryOffset: -1 }), /queryOffset/);
    assert.throws(() => attention(q, k1, k1, { slidingWindow: 0 }), /slidingWindow must be an integer >= 1/);
    assert.throws(() => attention(q, k1, k1, { slidingWindow: 1.5 }), /slidingWindow must be an integer >= 1/);
    assert.throws(() => attention(q, k1, k1, { causal: false, slidingWindow: 2 }), /slidingWindow needs causal/);
  });
});

test('attention: no leak over forward/backward steps, and none without grad', () => {
  const c: Case = { name: 'leak', dims: { B: 1, T: 9, S: 9, H: 2, KVH: 1, D: 8 } };
  const x = makeInputs(c, new Rng(16));
  runNative(c, x);
  const base = liveBytes();
  for (let i = 0; i < 5; i++) runNative(c, x);
  noGrad(() =>
    scope(() => {
      attention(
        Tensor.from(x.q.f32, [1, 9, 2, 8]),
        Tensor.from(x.k.f32, [1, 9, 1, 8]),
        Tensor.from(x.v.f32, [1, 9, 1, 8]),
      );
    }),
  );
  assert.equal(liveBytes(), base);
});
