import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Generator,
  kaimingBound,
  kaimingUniform_,
  native,
  normal_,
  rand,
  randn,
  scope,
  Tensor,
  uniform,
} from '../../src/engine/index.js';
import { normalRef, philoxRef, uniformRef } from '../../src/engine/reference/random.js';
import { withThreads } from '../../src/engine/threads.js';
import { assertClose } from '../util/assert.js';

// Random123's known-answer vectors for philox4x32-10: [key, counter, output]
const KAT: [[number, number], [number, number, number, number], number[]][] = [
  [
    [0, 0],
    [0, 0, 0, 0],
    [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
  ],
  [
    [0xffffffff, 0xffffffff],
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  ],
  [
    [0xa4093822, 0x299f31d0],
    [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  ],
];

function stats(x: Float32Array): { mean: number; variance: number } {
  let s = 0;
  for (const v of x) s += v;
  const mean = s / x.length;
  let q = 0;
  for (const v of x) q += (v - mean) ** 2;
  return { mean, variance: q / x.length };
}

test('Philox4x32-10: native kernel and reference reproduce the known-answer vectors', () => {
  for (const [key, ctr, expected] of KAT) {
    assert.deepEqual(philoxRef(key, ctr), expected);
    assert.deepEqual(native.philox(...key, ...ctr), expected);
  }
});

test('uniform and normal match the reference stream exactly (uniform) and to rounding (normal)', () => {
  const seed = 2 ** 40 + 12345; // exercises the high key word
  for (const n of [1, 5, 1001]) {
    scope(() => {
      const g = new Generator(seed, 8);
      const u = uniform([n], g, -2, 3).toFloat32Array();
      assert.deepEqual(u, Float32Array.from(uniformRef(n, -2, 3, seed, 8)), `uniform n=${n}`);
      const offset = g.offset;
      const z = randn([n], g, 0.5, 1).toFloat32Array();
      assertClose(z, normalRef(n, 1, 0.5, seed, offset), { atol: 1e-6, rtol: 1e-6 }, `normal n=${n}`);
    });
  }
});

test('uniform and normal have the right mean and variance', () => {
  scope(() => {
    const g = new Generator(42);
    const n = 200_000;
    // standard errors: mean ~ sd / sqrt(n), variance ~ sd^2 * sqrt(2 / n) (normal); bounds are ~6 of them
    const u = stats(rand([n], g).toFloat32Array());
    assert.ok(Math.abs(u.mean - 0.5) < 0.004, `uniform mean ${u.mean}`);
    assert.ok(Math.abs(u.variance - 1 / 12) < 0.002, `uniform variance ${u.variance}`);
    const z = stats(randn([n], g, 2).toFloat32Array());
    assert.ok(Math.abs(z.mean) < 0.03, `normal mean ${z.mean}`);
    assert.ok(Math.abs(z.variance - 4) < 0.08, `normal variance ${z.variance}`);
  });
});

test('same seed, same values; the generator advances and its state resumes the stream', () => {
  scope(() => {
    const a = new Generator(7);
    const b = new Generator(7);
    const first = rand([10], a).toFloat32Array();
    assert.deepEqual(rand([10], b).toFloat32Array(), first);
    assert.equal(a.offset, 12, 'reservations round up to whole 4-word blocks');
    const second = rand([10], a).toFloat32Array();
    assert.notDeepEqual(second, first);
    const saved = JSON.parse(JSON.stringify(a.state()));
    const third = randn([6], a).toFloat32Array();
    assert.deepEqual(randn([6], Generator.fromState(saved)).toFloat32Array(), third);
    assert.notDeepEqual(rand([10], new Generator(8)).toFloat32Array(), first);
    assert.throws(() => new Generator(-1), /seed must be an integer/);
    assert.throws(() => new Generator(1.5), /seed must be an integer/);
  });
});

test('kaimingUniform_ with a = sqrt(5) draws U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as PEFT inits LoRA A', () => {
  assertClose([kaimingBound([4, 64], { a: Math.sqrt(5) })], [1 / 8], { atol: 1e-15, rtol: 0 });
  assertClose([kaimingBound([3, 5, 2, 2], {})], [Math.sqrt(6 / 20)], { atol: 1e-15, rtol: 0 });
  assertClose([kaimingBound([3, 5], { mode: 'fan_out', nonlinearity: 'linear' })], [1], { atol: 1e-15, rtol: 0 });
  assert.throws(() => kaimingBound([5], {}), /at least 2 dimensions/);
  scope(() => {
    const w = kaimingUniform_(Tensor.empty([64, 400]), new Generator(3), { a: Math.sqrt(5) });
    const x = w.toFloat32Array();
    const bound = 1 / Math.sqrt(400);
    assert.ok(
      x.every((v) => v >= -bound && v < bound),
      'within the bound',
    );
    const s = stats(x);
    assert.ok(Math.abs(s.variance - bound ** 2 / 3) < 0.03 * (bound ** 2 / 3), `variance ${s.variance}`);
  });
});

test('random init: 1 thread and N threads give identical tensors', () => {
  const run = () =>
    scope(() => {
      const g = new Generator(99);
      const t = Tensor.empty([100_003]);
      normal_(t, g, 0, 1);
      return [t.toFloat32Array(), uniform([70_001], g, -1, 1).toFloat32Array()];
    });
  assert.deepEqual(withThreads(1, run), withThreads(4, run));
});
