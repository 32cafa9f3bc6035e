import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scope, silu, swiglu, Tensor } from '../../src/engine/index.js';
import { siluBackwardRef, siluRef, swigluBackwardRef, swigluRef } from '../../src/engine/reference/activation.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';
import { assertGradient, dot } from '../util/gradcheck.js';
import { availableIsas, withIsa } from '../util/isa.js';
import { Rng } from '../util/random.js';

// odd sizes hit the vector tails; 2100 spans blocks of the kernel's work split
const SHAPES = [[1], [7], [3, 17], [16, 64], [2100]];
const TOL = { atol: 1e-6, rtol: 2e-6 };

function runSwiglu(gate: Float32Array, up: Float32Array, g: Float32Array, shape: number[], needs = [true, true]) {
  return scope(() => {
    const tg = Tensor.from(gate, shape).requiresGrad_(needs[0]);
    const tu = Tensor.from(up, shape).requiresGrad_(needs[1]);
    const y = swiglu(tg, tu);
    y.backward(Tensor.from(g, shape));
    const out = { y: y.toFloat32Array(), dgate: tg.grad?.toFloat32Array(), dup: tu.grad?.toFloat32Array() };
    tg.grad?.dispose();
    tu.grad?.dispose();
    return out;
  });
}

function runSilu(x: Float32Array, g: Float32Array, shape: number[]) {
  return scope(() => {
    const tx = Tensor.from(x, shape).requiresGrad_();
    const y = silu(tx);
    y.backward(Tensor.from(g, shape));
    const out = { y: y.toFloat32Array(), dx: tx.grad?.toFloat32Array() };
    tx.grad?.dispose();
    return out;
  });
}

test('silu and swiglu match the float64 reference on every ISA path', () => {
  const rng = new Rng(21);
  for (const isa of availableIsas()) {
    withIsa(isa, () => {
      for (const shape of SHAPES) {
        const n = shape.reduce((a, b) => a * b, 1);
        const gate = rng.floats(n, -12, 12);
        const up = rng.floats(n, -2, 2);
        const g = rng.floats(n);
        const s = runSwiglu(gate.f32, up.f32, g.f32, shape);
        const ref = swigluBackwardRef(gate.f64, up.f64, g.f64);
        assertClose(s.y, swigluRef(gate.f64, up.f64), TOL, `${isa} swiglu ${shape}`);
        assertClose(s.dgate ?? [], ref.dgate, TOL, `${isa} dgate ${shape}`);
        assertClose(s.dup ?? [], ref.dup, TOL, `${isa} dup ${shape}`);
        const a = runSilu(gate.f32, g.f32, shape);
        assertClose(a.y, siluRef(gate.f64), TOL, `${isa} silu ${shape}`);
        assertClose(a.dx ?? [], siluBackwardRef(gate.f64, g.f64), TOL, `${isa} silu dx ${shape}`);
      }
    });
  }
});

test('silu saturates without overflow or NaN at extreme inputs', () => {
  const x = new Float32Array([-1e30, -200, -88, -87, 0, 87, 88, 200, 1e30]);
  const g = new Float32Array(x.length).fill(1);
  for (const isa of availableIsas()) {
    const { y, dx } = withIsa(isa, () => runSilu(x, g, [x.length]));
    assertClose(y, siluRef(Float64Array.from(x)), { atol: 1e-30, rtol: 1e-6 }, `${isa} silu extremes`);
    assertClose(dx ?? [], siluBackwardRef(Float64Array.from(x), Float64Array.from(g)), TOL, `${isa} dsilu`);
  }
});

test('silu/swiglu reference backward matches finite differences (float64)', () => {
  const rng = new Rng(22);
  const n = 23;
  const gate = rng.floats(n, -6, 6);
  const up = rng.floats(n);
  const g = rng.floats(n);
  const ref = swigluBackwardRef(gate.f64, up.f64, g.f64);
  assertGradient((v) => dot(swigluRef(v, up.f64), g.f64), gate.f64, ref.dgate, {}, 'dgate');
  assertGradient((v) => dot(swigluRef(gate.f64, v), g.f64), up.f64, ref.dup, {}, 'dup');
  assertGradient((v) => dot(siluRef(v), g.f64), gate.f64, siluBackwardRef(gate.f64, g.f64), {}, 'dsilu');
});

test('swiglu computes only the gradients that are needed', () => {
  const rng = new Rng(23);
  const n = 40;
  const [gate, up, g] = [rng.floats(n), rng.floats(n), rng.floats(n)];
  const ref = swigluBackwardRef(gate.f64, up.f64, g.f64);
  const onlyGate = runSwiglu(gate.f32, up.f32, g.f32, [n], [true, false]);
  assert.equal(onlyGate.dup, undefined);
  assertClose(onlyGate.dgate ?? [], ref.dgate, TOL, 'dgate alone');
  const onlyUp = runSwiglu(gate.f32, up.f32, g.f32, [n], [false, true]);
  assert.equal(onlyUp.dgate, undefined);
  assertClose(onlyUp.dup ?? [], ref.dup, TOL, 'dup alone');
});

test('swiglu is bit-identical with 1 and 2 threads', () => {
  const rng = new Rng(24);
  const n = 100_003;
  const [gate, up, g] = [rng.floats(n, -8, 8), rng.floats(n), rng.floats(n)];
  const one = withThreads(1, () => runSwiglu(gate.f32, up.f32, g.f32, [n]));
  const two = withThreads(2, () => runSwiglu(gate.f32, up.f32, g.f32, [n]));
  assert.deepEqual(two, one);
});

test('swiglu rejects different shapes', () => {
  scope(() => {
    assert.throws(() => swiglu(Tensor.zeros([2, 3]), Tensor.zeros([3, 2])), /shapes differ/);
  });
});
