import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  liveBytes,
  type RopeConfig,
  type RopeFrequencies,
  rope,
  ropeInvFreq,
  scope,
  Tensor,
} from '../../src/engine/index.js';
import { ropeInvFreqF64, ropeRef } from '../../src/engine/reference/rope.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { assertGradient, dot } from '../util/gradcheck.js';
import { availableIsas, withIsa } from '../util/isa.js';
import { Rng } from '../util/random.js';

const LLAMA31: RopeConfig = {
  theta: 500000,
  scaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
};

// [B, T, H, D]: odd half-dims (3, 5) exercise the vector tails
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 2],
  [1, 7, 2, 6],
  [2, 5, 3, 10],
  [2, 16, 4, 64],
  [1, 9, 2, 128],
];

function positionsFor(rng: Rng, B: number, T: number): Int32Array {
  // row 0: 0..T-1; other rows: left padding then a packed restart, and large positions
  const p = new Int32Array(B * T);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) p[b * T + t] = b === 0 ? t : t < 2 ? 1 : (t % 4) + rng.int(6000);
  return p;
}

function runRope(
  x: Float32Array,
  pos: Int32Array,
  shape: number[],
  freqs: RopeFrequencies | RopeConfig,
  g: Float32Array,
) {
  return scope(() => {
    const tx = Tensor.from(x, shape).requiresGrad_();
    const y = rope(tx, Tensor.from(pos, [shape[0] as number, shape[1] as number], 'i32'), freqs);
    y.backward(Tensor.from(g, shape));
    const out = { y: y.toFloat32Array(), dx: tx.grad?.toFloat32Array() ?? new Float32Array() };
    tx.grad?.dispose();
    return out;
  });
}

test('rope forward and backward match the float64 reference on every ISA path', () => {
  const rng = new Rng(31);
  for (const isa of availableIsas()) {
    withIsa(isa, () => {
      for (const shape of SHAPES) {
        const [B, T, H, D] = shape;
        const n = B * T * H * D;
        const x = rng.floats(n);
        const g = rng.floats(n);
        const pos = positionsFor(rng, B, T);
        // full rotary, scaled with an attention factor, and partial rotary (Phi's partial_rotary_factor 0.5)
        const partial = D >= 4 && D % 4 === 0 ? [ropeInvFreq({ theta: 500 }, D / 2)] : [];
        for (const freqs of [
          ropeInvFreq({ theta: 10000 }, D),
          { ...ropeInvFreq(LLAMA31, D), attentionFactor: 0.75 },
          ...partial,
        ]) {
          const got = runRope(x.f32, pos, shape, freqs, g.f32);
          const ref = (v: Float64Array, t: boolean) => ropeRef(v, pos, freqs.invFreq, H, D, freqs.attentionFactor, t);
          // cos/sin of angles up to ~6000 rad carry the f32 rounding of their argument (HF's own)
          const tol = { atol: 2e-6, rtol: 1e-5 };
          assertClose(got.y, ref(x.f64, false), tol, `${isa} y ${shape}`);
          assertClose(got.dx, ref(g.f64, true), tol, `${isa} dx ${shape}`);
        }
      }
    });
  }
});

test('rope reference backward (transposed rotation) matches finite differences (float64)', () => {
  const rng = new Rng(32);
  const [H, D] = [2, 6];
  const pos = [0, 3, 17];
  const inv = ropeInvFreq({ theta: 10000 }, D).invFreq;
  const x = rng.floats(pos.length * H * D);
  const g = rng.floats(x.f64.length);
  assertGradient(
    (v) => dot(ropeRef(v, pos, inv, H, D, 0.9), g.f64),
    x.f64,
    ropeRef(g.f64, pos, inv, H, D, 0.9, true),
    {},
    'dx',
  );
});

test('rope uses the rotate-half layout: dims i and i + D/2 form a pair', () => {
  scope(() => {
    // x = e_0 at position 2: out = cos(2 theta_0) e_0 + sin(2 theta_0) e_{D/2}, with theta_0 = 1
    const x = Tensor.from([1, 0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 8]);
    const out = rope(x, Tensor.from([2], [1, 1], 'i32'), { theta: 10000 }).toFloat32Array();
    assertClose(out, [Math.cos(2), 0, 0, 0, Math.sin(2), 0, 0, 0], { atol: 1e-7, rtol: 0 }, 'rotate-half');
  });
});

test('partial rotary: the first R dims rotate in pairs (i, i + R/2), dims [R, D) pass through unchanged', () => {
  scope(() => {
    // D 8, R 4: e_0 at position 2 -> cos(2) e_0 + sin(2) e_2; the tail dims 4..7 are copied
    const x = Tensor.from([1, 0, 0, 0, 5, 6, 7, 8], [1, 1, 1, 8]).requiresGrad_();
    const freqs = ropeInvFreq({ theta: 10000 }, 4);
    const out = rope(x, Tensor.from([2], [1, 1], 'i32'), freqs);
    const want = [Math.cos(2), 0, Math.sin(2), 0, 5, 6, 7, 8];
    assertClose(out.toFloat32Array(), want, { atol: 1e-6, rtol: 0 }, 'partial rotary');
    out.backward(Tensor.from([0, 0, 0, 0, 1, 2, 3, 4], [1, 1, 1, 8]));
    assertClose(x.grad?.toFloat32Array() ?? [], [0, 0, 0, 0, 1, 2, 3, 4], { atol: 0, rtol: 0 }, 'pass-through grad');
  });
});

test('rope is bit-identical with 1 and 2 threads', () => {
  const rng = new Rng(33);
  const shape = [2, 37, 4, 32];
  const n = shape.reduce((a, b) => a * b, 1);
  const x = rng.floats(n);
  const g = rng.floats(n);
  const pos = positionsFor(rng, 2, 37);
  const freqs = ropeInvFreq(LLAMA31, 32);
  const one = withThreads(1, () => runRope(x.f32, pos, shape, freqs, g.f32));
  const two = withThreads(2, () => runRope(x.f32, pos, shape, freqs, g.f32));
  assert.deepEqual(two, one);
});

test('ropeInvFreq: default and linear follow theta^(-2i/D) (float32 steps as HF)', () => {
  for (const D of [2, 16, 64, 128]) {
    const def = ropeInvFreq({ theta: 10000 }, D);
    assert.equal(def.attentionFactor, 1);
    assertClose(def.invFreq, ropeInvFreqF64(10000, D), { atol: 0, rtol: 2e-7 }, `default D=${D}`);
    const lin = ropeInvFreq({ theta: 10000, scaling: { type: 'linear', factor: 4 } }, D).invFreq;
    assert.deepEqual(
      [...lin],
      [...def.invFreq].map((v) => v / 4),
    );
  }
});

test('ropeInvFreq: llama3 keeps high frequencies, divides low ones by factor, blends between', () => {
  const D = 128;
  const base = ropeInvFreqF64(500000, D);
  const got = ropeInvFreq(LLAMA31, D).invFreq;
  let [high, low, medium] = [0, 0, 0];
  base.forEach((f, i) => {
    const wavelen = (2 * Math.PI) / f;
    let expected: number;
    if (wavelen < 8192 / 4) {
      expected = f;
      high++;
    } else if (wavelen > 8192 / 1) {
      expected = f / 8;
      low++;
    } else {
      const s = (8192 / wavelen - 1) / (4 - 1);
      expected = ((1 - s) * f) / 8 + s * f;
      medium++;
    }
    assertClose([got[i] as number], [expected], { atol: 0, rtol: 1e-6 }, `llama3 inv_freq[${i}]`);
  });
  assert.ok(high > 0 && low > 0 && medium > 0, `every band is exercised (${high}/${medium}/${low})`);
});

test('ropeInvFreq: dynamic NTK keeps the table up to the original length and grows the base beyond it', () => {
  const cfg: RopeConfig = { theta: 10000, scaling: { type: 'dynamic', factor: 2, originalMaxPositionEmbeddings: 128 } };
  const D = 64;
  const def = ropeInvFreq({ theta: 10000 }, D).invFreq;
  assert.deepEqual(ropeInvFreq(cfg, D).invFreq, def);
  assert.deepEqual(ropeInvFreq(cfg, D, 128).invFreq, def);
  const grown = ropeInvFreq(cfg, D, 300).invFreq;
  const base = 10000 * ((2 * 300) / 128 - 1) ** (D / (D - 2));
  assertClose(grown, ropeInvFreqF64(base, D), { atol: 0, rtol: 2e-7 }, 'dynamic base');
  // rope() given the config reads max(positionIds) + 1 = 300 itself
  const rng = new Rng(34);
  const x = rng.floats(2 * 4 * D);
  const pos = Int32Array.from([5, 6, 7, 299]);
  const g = new Float32Array(x.f32.length);
  const viaCfg = runRope(x.f32, pos, [1, 4, 2, D], cfg, g).y;
  const viaFreqs = runRope(x.f32, pos, [1, 4, 2, D], { invFreq: grown, attentionFactor: 1 }, g).y;
  assert.deepEqual(viaCfg, viaFreqs);
});

test('rope validates shapes and leaks nothing', () => {
  scope(() => {
    const x = Tensor.zeros([1, 2, 1, 4]);
    assert.throws(() => rope(x, Tensor.zeros([1, 3], 'i32'), { theta: 1e4 }), /positionIds must be i32 \[B, T\]/);
    assert.throws(() => rope(Tensor.zeros([1, 2, 1, 3]), Tensor.zeros([1, 2], 'i32'), { theta: 1e4 }), /even/);
  });
  const rng = new Rng(35);
  const x = rng.floats(2 * 3 * 2 * 8);
  const step = () => runRope(x.f32, Int32Array.from([0, 1, 2, 0, 1, 2]), [2, 3, 2, 8], { theta: 1e4 }, x.f32);
  step();
  const base = liveBytes();
  for (let i = 0; i < 10; i++) step();
  assert.equal(liveBytes(), base);
});
