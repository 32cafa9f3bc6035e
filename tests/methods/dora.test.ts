/**
 * DoRA (use_dora) as PEFT defines it: a magnitude m [out] (`lora_magnitude_vector`) and
 *   y = (m / n) ⊙ (W x + s B A x) + b,  n = ||W + s B A|| per output row, taken without gradient.
 * Checked against that formula in float64 (output and the gradients of m, A, B), the starting point (m = ||W||: the
 * base model's logits), merge (merged weights give the DoRA forward), and PEFT's saved layout loaded back.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Generator, keep, normal_, scope, Tensor } from '../../src/engine/index.js';
import { LoraAdapter } from '../../src/io/peft.js';
import { type CausalLM, createModel } from '../../src/models/causal-lm.js';
import { copyInto } from '../../src/models/parameters.js';
import { Linear } from '../../src/nn/linear.js';
import { LoraLinear } from '../../src/nn/lora-linear.js';
import { tinyLlamaConfig } from '../util/tiny-config.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('lmforge-dora-');
after(() => rmSync(root, { recursive: true, force: true }));

const gen = new Generator(11);
const randomTensor = (shape: number[], std = 1) => keep(normal_(Tensor.empty(shape), gen, 0, std));

test('DoRA layer: output and gradients equal the float64 formula, with the norm detached', () => {
  const [out, inp, r, s, rows] = [5, 4, 2, 0.75, 3];
  const w = randomTensor([out, inp]);
  const bias = randomTensor([out]);
  const a = randomTensor([r, inp]);
  const b = randomTensor([out, r]);
  const m = randomTensor([out]);
  a.requiresGrad = b.requiresGrad = m.requiresGrad = true;
  const layer = new LoraLinear(new Linear(inp, out, w, bias), { rank: r, scaling: s, dropout: 0 }, a, b, gen, m);
  const x = randomTensor([rows, inp]);
  const g = randomTensor([rows, out]);
  const y = scope(() => {
    const yt = layer.forward(x);
    const values = yt.toFloat32Array();
    // d(sum(y * g)) = g: backward with g as the output gradient
    yt.backward(g);
    return values;
  });
  const [W, Bi, A, B, M, X, G] = [w, bias, a, b, m, x, g].map((t) => Float64Array.from(t.toFloat32Array()));
  const at = (t: Float64Array, cols: number, i: number, j: number) => t[i * cols + j] as number;
  // V = W + s B A [out, in], n_o = ||V_o||
  const V = new Float64Array(out * inp);
  for (let o = 0; o < out; o++)
    for (let k = 0; k < inp; k++) {
      let ba = 0;
      for (let q = 0; q < r; q++) ba += at(B as Float64Array, r, o, q) * at(A as Float64Array, inp, q, k);
      V[o * inp + k] = at(W as Float64Array, inp, o, k) + s * ba;
    }
  const n = Array.from({ length: out }, (_, o) => Math.hypot(...V.subarray(o * inp, (o + 1) * inp)));
  const gradM = new Float64Array(out);
  for (let i = 0; i < rows; i++)
    for (let o = 0; o < out; o++) {
      let vx = 0;
      for (let k = 0; k < inp; k++) vx += (V[o * inp + k] as number) * at(X as Float64Array, inp, i, k);
      const expected =
        ((M as Float64Array)[o] as number) * (vx / (n[o] as number)) + ((Bi as Float64Array)[o] as number);
      assert.ok(
        Math.abs((y[i * out + o] as number) - expected) < 1e-5,
        `y[${i},${o}] ${y[i * out + o]} vs ${expected}`,
      );
      gradM[o] = (gradM[o] as number) + at(G as Float64Array, out, i, o) * (vx / (n[o] as number));
    }
  const gm = m.grad?.toFloat32Array() as Float32Array;
  for (let o = 0; o < out; o++) assert.ok(Math.abs((gm[o] as number) - (gradM[o] as number)) < 1e-4, `dm[${o}]`);
  // dB = s * sum_i (m_o / n_o) g_io (A x_i)^T  (no term through the detached norm)
  const gb = b.grad?.toFloat32Array() as Float32Array;
  for (let o = 0; o < out; o++)
    for (let q = 0; q < r; q++) {
      let e = 0;
      for (let i = 0; i < rows; i++) {
        let ax = 0;
        for (let k = 0; k < inp; k++) ax += at(A as Float64Array, inp, q, k) * at(X as Float64Array, inp, i, k);
        e += s * (((M as Float64Array)[o] as number) / (n[o] as number)) * at(G as Float64Array, out, i, o) * ax;
      }
      assert.ok(Math.abs((gb[o * r + q] as number) - e) < 1e-4, `dB[${o},${q}] ${gb[o * r + q]} vs ${e}`);
    }
  assert.ok(a.grad, 'A gets a gradient');
  layer.dispose();
});

function logitsOf(model: CausalLM, ids: number[][]): Float32Array {
  return scope(() => (model.forward({ inputIds: ids }) as { logits: Tensor }).logits.toFloat32Array());
}

function maxDiff(x: Float32Array, y: Float32Array): number {
  return x.reduce((d, v, i) => Math.max(d, Math.abs(v - (y[i] as number))), 0);
}

test('DoRA model: starts as the base, merges into its own forward, saves and loads in PEFT format', () => {
  const ids = [[1, 7, 3, 9, 22, 5]];
  const model = createModel(tinyLlamaConfig(), { seed: 4 });
  const base = logitsOf(model, ids);
  model.addLora({ r: 2, targetModules: 'all', useDora: true });
  assert.ok(maxDiff(logitsOf(model, ids), base) < 1e-5, 'a new DoRA adapter changes nothing');
  const magnitudes = model.trainableParameters().filter(([n]) => n.endsWith('.lora_magnitude_vector'));
  assert.equal(magnitudes.length, 2 * 7, 'one magnitude per adapted projection');
  // "train": move B off zero and the magnitudes off the norms
  for (const [name, t] of model.trainableParameters()) {
    if (!/lora_B|magnitude/.test(name)) continue;
    const noise = Float32Array.from(t.toFloat32Array(), (v) => v + 0.05 * Math.sin(v * 97 + t.numel));
    copyInto(Tensor.from(noise, t.shape), t);
  }
  const dora = logitsOf(model, ids);
  assert.ok(maxDiff(dora, base) > 1e-3, 'the trained adapter changes the logits');

  const dir = join(root, 'adapter');
  model.saveAdapter(dir);
  const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
  assert.equal(config.use_dora, true);
  const saved = LoraAdapter.open(dir);
  const key = 'base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector';
  assert.deepEqual(saved.shape(key), [16]);
  saved.close();

  model.mergeAdapter();
  assert.ok(maxDiff(logitsOf(model, ids), dora) < 1e-5, 'merged weights give the DoRA forward');
  model.dispose();

  const reloaded = createModel(tinyLlamaConfig(), { seed: 4 });
  reloaded.loadAdapter(dir);
  assert.ok(maxDiff(logitsOf(reloaded, ids), dora) < 1e-6, 'the saved adapter loads back');
  reloaded.dispose();
});
