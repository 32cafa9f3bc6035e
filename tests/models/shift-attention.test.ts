/**
 * LongLoRA's S²-Attn (shift_attn) against a float64 transcription of LLaMA-Factory's longlora.py (roll the second
 * half of the heads by -G//2, attend causally within groups of G = T/4 with the first group's key mask, roll back by
 * G//2), with grouped-query K/V and padding; its defining property (an unshifted head sees only its own group, a
 * shifted head the group straddling two of them); gradients; and that it applies to training-mode forwards only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Generator, keep, mul, normal_, scope, sumAll, Tensor } from '../../src/engine/index.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { createModel } from '../../src/models/causal-lm.js';
import { shiftedSparseAttention } from '../../src/models/shift-attention.js';
import { assertClose } from '../util/assert.js';

const pyFloorDiv = (a: number, b: number) => Math.floor(a / b);

/** q [B, T, H, D], k/v [B, T, KVH, D] as flat float64 -> out [B, T, H, D], step by step as longlora.py. */
function referenceS2(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  [b, t, h, kvh, d]: readonly [number, number, number, number, number],
  mask?: Int32Array,
): Float64Array {
  const g = Math.floor(t * 0.25);
  const n = t / g;
  // repeat_kv, then shift: state[:, :, h/2:] rolled by -g//2 along T
  const at = (x: Float64Array, heads: number, bi: number, ti: number, hi: number, e: number) =>
    x[((bi * t + ti) * heads + hi) * d + e] as number;
  const roll = pyFloorDiv(-g, 2);
  const shifted = (x: Float64Array, heads: number, bi: number, ti: number, hi: number, e: number) => {
    const src = hi >= pyFloorDiv(h, 2) ? (((ti - roll) % t) + t) % t : ti;
    return at(x, heads, bi, src, heads === h ? hi : Math.floor(hi / (h / kvh)), e);
  };
  const out = new Float64Array(b * t * h * d);
  for (let bi = 0; bi < b; bi++)
    for (let gi = 0; gi < n; gi++)
      for (let hi = 0; hi < h; hi++)
        for (let i = 0; i < g; i++) {
          const scores: number[] = [];
          for (let j = 0; j <= i; j++) {
            if (mask && mask[bi * t + j] === 0) {
              scores.push(Number.NEGATIVE_INFINITY);
              continue;
            }
            let s = 0;
            for (let e = 0; e < d; e++)
              s += shifted(q, h, bi, gi * g + i, hi, e) * shifted(k, kvh, bi, gi * g + j, hi, e);
            scores.push(s / Math.sqrt(d));
          }
          const m = Math.max(...scores);
          const ex = scores.map((s) => Math.exp(s - m));
          const z = ex.reduce((a, c) => a + c, 0);
          // shift back: output[:, :, h/2:] rolled by g//2
          const tOut = hi >= pyFloorDiv(h, 2) ? (gi * g + i + pyFloorDiv(g, 2)) % t : gi * g + i;
          for (let e = 0; e < d; e++) {
            let acc = 0;
            for (let j = 0; j <= i; j++) acc += ((ex[j] as number) / z) * shifted(v, kvh, bi, gi * g + j, hi, e);
            out[((bi * t + tOut) * h + hi) * d + e] = acc;
          }
        }
  return out;
}

function random(shape: number[], seed: number): Tensor {
  return keep(normal_(Tensor.empty(shape), new Generator(seed), 0, 1));
}

test('S²-Attn equals LongLoRA / LLaMA-Factory step by step (GQA, padding, 2 rows, T = 16 in 4 groups)', () => {
  const [b, t, h, kvh, d] = [2, 16, 4, 2, 8];
  const q = random([b, t, h, d], 1);
  const k = random([b, t, kvh, d], 2);
  const v = random([b, t, kvh, d], 3);
  const mask = Int32Array.from({ length: b * t }, (_, i) => (i === t + 1 ? 0 : 1)); // row 1's token 1 masked
  const f64 = (x: Tensor) => Float64Array.from(x.toFloat32Array());
  const got = scope(() => shiftedSparseAttention(q, k, v, Tensor.from(mask, [b, t], 'i32')).toFloat32Array());
  const want = referenceS2(f64(q), f64(k), f64(v), [b, t, h, kvh, d], mask);
  assertClose(got, want, { atol: 1e-5, rtol: 1e-4 }, 'S2-Attn');
  for (const x of [q, k, v]) x.dispose();
});

test('an unshifted head sees only its own group; a shifted head sees across the group boundary', () => {
  const [b, t, h, d] = [1, 8, 2, 4]; // G = 2: groups {0,1} {2,3} {4,5} {6,7}; head 1 is shifted by one token
  const q = random([b, t, h, d], 4);
  const k = random([b, t, h, d], 5);
  const v = random([b, t, h, d], 6);
  // head 0 at token 3 (group {2,3}): only tokens 2 and 3 matter; head 1 at token 3: shifted group {3, 4} rolled back
  const rows = (token: number, head: number) =>
    scope(() => {
      const base = shiftedSparseAttention(q, k, v, undefined).toFloat32Array();
      const reached: number[] = [];
      for (let s = 0; s < t; s++) {
        const bumped = Float32Array.from(v.toFloat32Array());
        for (let hh = 0; hh < h; hh++)
          for (let e = 0; e < d; e++) bumped[(s * h + hh) * d + e] = (bumped[(s * h + hh) * d + e] as number) + 1;
        const out = shiftedSparseAttention(q, k, Tensor.from(bumped, v.shape), undefined).toFloat32Array();
        let diff = 0;
        for (let e = 0; e < d; e++)
          diff += Math.abs((out[(token * h + head) * d + e] as number) - (base[(token * h + head) * d + e] as number));
        if (diff > 1e-6) reached.push(s);
      }
      return reached;
    });
  assert.deepEqual(rows(3, 0), [2, 3]);
  assert.deepEqual(rows(2, 0), [2]);
  // head 1 rolled by -1: its group {2,3} holds tokens 3, 4; rolled back by +1, token 4's output is that group's 2nd query
  assert.deepEqual(rows(4, 1), [3, 4]);
  assert.deepEqual(rows(3, 1), [3]);
  for (const x of [q, k, v]) x.dispose();
});

test('S²-Attn gradients match finite differences of the reference (q, and GQA-shared k and v)', () => {
  const dims = [1, 8, 4, 2, 4] as const;
  const [b, t, h, kvh, d] = dims;
  const tensors = [random([b, t, h, d], 7), random([b, t, kvh, d], 8), random([b, t, kvh, d], 9)];
  for (const x of tensors) x.requiresGrad = true;
  const coef = Float64Array.from({ length: b * t * h * d }, (_, i) => Math.cos(i * 0.37));
  scope(() => {
    const [q, k, v] = tensors as [Tensor, Tensor, Tensor];
    const out = shiftedSparseAttention(q, k, v, undefined);
    sumAll(mul(out, Tensor.from(Float32Array.from(coef), out.shape))).backward();
  });
  const values = tensors.map((x) => Float64Array.from(x.toFloat32Array()));
  const objective = () =>
    referenceS2(values[0] as Float64Array, values[1] as Float64Array, values[2] as Float64Array, dims).reduce(
      (s, x, i) => s + x * (coef[i] as number),
      0,
    );
  tensors.forEach((x, which) => {
    const grad = x.grad?.toFloat32Array() as Float32Array;
    const w = values[which] as Float64Array;
    for (const i of [0, 7, Math.floor(w.length / 2), w.length - 1]) {
      const x0 = w[i] as number;
      w[i] = x0 + 1e-5;
      const up = objective();
      w[i] = x0 - 1e-5;
      const down = objective();
      w[i] = x0;
      const want = (up - down) / 2e-5;
      assert.ok(Math.abs((grad[i] as number) - want) <= 1e-3 * Math.max(1, Math.abs(want)), `${which}[${i}]`);
    }
  });
  for (const x of tensors) x.dispose();
});

test('shift_attn applies to training-mode forwards only; eval logits are the plain model logits', () => {
  const cfg = parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 40,
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
  });
  const model = createModel(cfg, { seed: 2, std: 0.3 });
  const ids = [Array.from({ length: 16 }, (_, i) => (i * 7 + 3) % 40)];
  const logits = () => scope(() => model.forward({ inputIds: ids }).logits.toFloat32Array());
  const plain = logits();
  model.module.model.shiftAttention = true;
  assert.deepEqual(logits(), plain, 'eval mode: full attention');
  model.setFullTraining();
  model.train();
  const shifted = logits();
  assert.ok(
    shifted.some((x, i) => Math.abs(x - (plain[i] as number)) > 1e-4),
    'training mode: S²-Attn',
  );
  // the first group of the unshifted heads equals full causal attention, so the first tokens' logits differ only
  // through the shifted heads: the loss still trains every layer
  scope(() => model.forward({ inputIds: ids, labels: ids, returnLogits: false }).loss.backward());
  assert.ok(
    model.trainableParameters().every(([, p]) => p.grad),
    'every parameter gets a gradient',
  );
  model.dispose();
});
