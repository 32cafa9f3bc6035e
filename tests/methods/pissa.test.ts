/**
 * PiSSA (pissa_init, pissa_iter, pissa_convert): A and B start as the weight's top-r singular directions with
 * sqrt(S_r / s) on each side and the base keeps the residual, so residual + s B A = W (the model starts as the base).
 * pissa_convert's adapter is a plain LoRA (rank 2r) for the original base that gives the trained model's logits.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Generator, scope, Tensor } from '../../src/engine/index.js';
import { type CausalLM, createModel } from '../../src/models/causal-lm.js';
import { copyInto } from '../../src/models/parameters.js';
import { jacobiEigen, pissaInit } from '../../src/models/pissa.js';
import { tinyLlamaConfig } from '../util/tiny-config.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('lmforge-pissa-');
after(() => rmSync(root, { recursive: true, force: true }));

/** Orthonormal columns (Gram-Schmidt in float64) of a deterministic matrix [n, k]. */
function orthonormalColumns(n: number, k: number, seed: number): number[][] {
  const cols: number[][] = [];
  for (let j = 0; j < k; j++) {
    let v = Array.from({ length: n }, (_, i) => Math.sin(seed * 13.7 + i * 3.1 + j * 7.3 + i * j));
    for (const c of cols) {
      const d = v.reduce((s, x, i) => s + x * (c[i] as number), 0);
      v = v.map((x, i) => x - d * (c[i] as number));
    }
    const norm = Math.hypot(...v);
    cols.push(v.map((x) => x / norm));
  }
  return cols;
}

test('PiSSA init: residual + s·B·A = W, and s·B·A is the best rank-r part of W', () => {
  const [out, inp, r, s] = [8, 6, 2, 0.5];
  const sigma = [10, 6, 3, 1, 0.5, 0.2];
  const u = orthonormalColumns(out, 6, 1);
  const v = orthonormalColumns(inp, 6, 2);
  const matrix = (k: number) =>
    Float32Array.from({ length: out * inp }, (_, idx) => {
      const [i, j] = [Math.floor(idx / inp), idx % inp];
      let x = 0;
      for (let q = 0; q < k; q++) x += (sigma[q] as number) * (u[q]?.[i] as number) * (v[q]?.[j] as number);
      return x;
    });
  const w = Tensor.from(matrix(6), [out, inp]);
  const best = matrix(r);
  scope(() => {
    const { a, b, residual } = pissaInit(w, r, s, 16, new Generator(3));
    const av = a.toFloat32Array();
    const bv = b.toFloat32Array();
    const res = residual.toFloat32Array();
    const wv = w.toFloat32Array();
    for (let i = 0; i < out; i++)
      for (let j = 0; j < inp; j++) {
        let ba = 0;
        for (let q = 0; q < r; q++) ba += (bv[i * r + q] as number) * (av[q * inp + j] as number);
        const k = i * inp + j;
        assert.ok(Math.abs((res[k] as number) + s * ba - (wv[k] as number)) < 1e-5, `residual + sBA at ${i},${j}`);
        assert.ok(Math.abs(s * ba - (best[k] as number)) < 1e-3, `s·BA is the rank-${r} truncation at ${i},${j}`);
      }
    // A Aᵀ = diag(S_r / s): orthogonal rows with the singular values split between A and B
    for (let p = 0; p < r; p++)
      for (let q = 0; q < r; q++) {
        let d = 0;
        for (let j = 0; j < inp; j++) d += (av[p * inp + j] as number) * (av[q * inp + j] as number);
        const expected = p === q ? (sigma[p] as number) / s : 0;
        assert.ok(Math.abs(d - expected) < 1e-3, `(A Aᵀ)[${p},${q}] = ${d}, expected ${expected}`);
      }
  });
  w.dispose();
});

test('jacobiEigen: a symmetric matrix rebuilt from its eigenpairs, values descending', () => {
  const m = Float64Array.from([4, 1, 0.5, 1, 3, 0.25, 0.5, 0.25, 1]);
  const { values, vectors } = jacobiEigen(m);
  assert.ok((values[0] as number) >= (values[1] as number) && (values[1] as number) >= (values[2] as number));
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) {
      let x = 0;
      for (let k = 0; k < 3; k++)
        x += (vectors[i * 3 + k] as number) * (values[k] as number) * (vectors[j * 3 + k] as number);
      assert.ok(Math.abs(x - (m[i * 3 + j] as number)) < 1e-12, `(${i},${j})`);
    }
});

function logitsOf(model: CausalLM, ids: number[][]): Float32Array {
  return scope(() => (model.forward({ inputIds: ids }) as { logits: Tensor }).logits.toFloat32Array());
}

const maxDiff = (x: Float32Array, y: Float32Array) =>
  x.reduce((d, v, i) => Math.max(d, Math.abs(v - (y[i] as number))), 0);

test('a PiSSA model starts as the base; pissa_convert gives a LoRA for the original base with the same logits', () => {
  const ids = [[3, 9, 27, 14, 5, 60]];
  const model = createModel(tinyLlamaConfig(), { seed: 8, std: 0.2 });
  const base = logitsOf(model, ids);
  model.addLora({ r: 2, targetModules: 'all', pissa: { iterations: 4 } });
  assert.equal(model.adapterConfig?.initLoraWeights, 'pissa_niter_4');
  assert.ok(maxDiff(logitsOf(model, ids), base) < 1e-4, 'residual + adapter = base');
  const b = model.trainableParameters().find(([n]) => n.endsWith('lora_B.weight'))?.[1] as Tensor;
  assert.ok(
    b.toFloat32Array().some((x) => Math.abs(x) > 1e-3),
    'B starts non-zero',
  );
  model.savePissaAdapter(join(root, 'pissa_init'), 'initial');
  // "train" the factors
  for (const [, t] of model.trainableParameters()) {
    const moved = Float32Array.from(t.toFloat32Array(), (x, i) => x + 0.05 * Math.cos(i * 1.7 + t.numel));
    copyInto(Tensor.from(moved, t.shape), t);
  }
  const trained = logitsOf(model, ids);
  assert.ok(maxDiff(trained, base) > 1e-3);
  const converted = join(root, 'pissa_converted');
  model.savePissaAdapter(converted, 'converted');
  model.saveAdapter(join(root, 'adapter'));
  model.dispose();

  const config = JSON.parse(readFileSync(join(converted, 'adapter_config.json'), 'utf8'));
  assert.equal(config.r, 4);
  assert.equal(config.lora_alpha, 8, 'alpha doubles with the rank: the scaling is unchanged');
  assert.equal(config.init_lora_weights, true);
  const onBase = createModel(tinyLlamaConfig(), { seed: 8, std: 0.2 });
  onBase.loadAdapter(converted);
  assert.ok(maxDiff(logitsOf(onBase, ids), trained) < 1e-4, 'converted LoRA on the original base = trained model');
  onBase.dispose();

  // pissa_init keeps the starting factors (PEFT's conversion subtracts them), at the original rank
  const init = JSON.parse(readFileSync(join(root, 'pissa_init', 'adapter_config.json'), 'utf8'));
  assert.deepEqual([init.r, init.lora_alpha, init.init_lora_weights], [2, 4, true]);

  // the PiSSA adapter itself: loading recomputes the residual from the base, as PEFT does
  const again = createModel(tinyLlamaConfig(), { seed: 8, std: 0.2 });
  again.loadAdapter(join(root, 'adapter'));
  assert.ok(maxDiff(logitsOf(again, ids), trained) < 1e-3, 'the saved PiSSA adapter loads back');
  again.dispose();
});
