import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor } from '../../src/engine/index.js';
import { selectNextTokens } from '../../src/infer/sampling.js';
import { Rng } from '../util/random.js';

const base = { doSample: true, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };

/** HF's processors on one row, in float64: penalty -> temperature -> top-k -> top-p -> kept probabilities. */
function keptProbabilities(logits: number[], hist: number[], o: typeof base): number[] {
  const x = [...logits];
  for (const t of new Set(hist))
    x[t] = (x[t] as number) < 0 ? (x[t] as number) * o.repetitionPenalty : (x[t] as number) / o.repetitionPenalty;
  for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) / o.temperature;
  if (o.topK > 0) {
    const kth = [...x].sort((a, b) => b - a)[o.topK - 1] as number;
    for (let i = 0; i < x.length; i++) if ((x[i] as number) < kth) x[i] = Number.NEGATIVE_INFINITY;
  }
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  const p = e.map((v) => v / z);
  if (o.topP < 1) {
    // ascending cumulative mass <= 1 - topP is removed (HF TopPLogitsWarper)
    const order = p.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
    let cum = 0;
    for (const [v, i] of order.slice(0, -1)) {
      cum += v;
      if (cum <= 1 - o.topP) p[i] = 0;
    }
  }
  const s = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / s);
}

function draw(logits: number[], hist: number[], o: typeof base, u: number): number {
  const t = Tensor.from(logits, [1, logits.length]);
  const id = selectNextTokens(t, [hist], Float32Array.of(u), o)[0] as number;
  t.dispose();
  return id;
}

test('greedy takes the first arg-max after the repetition penalty', () => {
  assert.equal(draw([1, 3, 3, -2], [], { ...base, doSample: false }, 0), 1);
  // penalty 2 on token 1 (3 -> 1.5) and token 3 (-2 -> -4): token 2 wins
  assert.equal(draw([1, 3, 2, -2], [1, 3, 1], { ...base, doSample: false, repetitionPenalty: 2 }, 0), 2);
});

test('sampling follows the processed distribution (empirical frequencies)', () => {
  const rng = new Rng(3);
  const logits = Array.from({ length: 12 }, () => rng.uniform(-2, 2));
  const hist = [0, 4, 4, 7];
  for (const o of [
    { ...base },
    { ...base, temperature: 0.7, topK: 5 },
    { ...base, topP: 0.6 },
    { ...base, temperature: 1.3, topK: 8, topP: 0.8, repetitionPenalty: 1.5 },
  ]) {
    const p = keptProbabilities(logits, hist, o);
    const n = 4000;
    const counts = new Array(logits.length).fill(0);
    // stratified draws: u = (i + 0.5) / n makes the frequencies exact up to 1/n
    for (let i = 0; i < n; i++) counts[draw(logits, hist, o, (i + 0.5) / n)]++;
    counts.forEach((c, i) => {
      assert.ok(
        Math.abs(c / n - (p[i] as number)) <= 1.5 / n + 1e-6,
        `token ${i}: ${c / n} vs ${p[i]} (${JSON.stringify(o)})`,
      );
    });
  }
});

test('top-p always keeps at least the most likely token', () => {
  assert.equal(draw([0, 10, 0], [], { ...base, topP: 0.01 }, 0.999), 1);
});
