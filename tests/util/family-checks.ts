/**
 * The three checks every model family passes (tests only), on a tiny random checkpoint the test writes itself:
 * 1. logits parity: build, save as an HF folder, load back, compare the logits with a float64 reference forward of
 *    the loaded weights (right padding in row 1);
 * 2. gradient parity: full-training gradients of sum(logits * coef) against central finite differences of the
 *    reference, for the parameters named;
 * 3. a LoRA SFT step: every projection of every layer gets a gradient and a few AdamW steps lower the loss.
 * `reference(weights)` gets the weights by the checkpoint's own names; a fused family slices them into the names
 * the reference reads (tests/util/decoder-reference.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator, mul, scope, sumAll, Tensor, uniform_ } from '../../src/engine/index.js';
import { type ModelConfig, parseModelConfig } from '../../src/io/model-config.js';
import { createModel, loadModel } from '../../src/models/causal-lm.js';
import { AdamW } from '../../src/train/optimizers.js';
import { assertClose } from './assert.js';

export type ReferenceForward = (
  weights: (name: string) => Float64Array | undefined,
  ids: Int32Array,
  b: number,
  t: number,
  keyMask?: Int32Array,
) => Float64Array;

type Randomize = (model: ReturnType<typeof createModel>, seed: number) => void;

/** Random 1-D parameters (norms, biases) in [0.5, 1.5], so those paths move the logits. */
const randomizeVectors: Randomize = (model, seed) => {
  const gen = new Generator(seed);
  for (const [, t] of model.namedParameters()) if (t.ndim === 1) uniform_(t, gen, 0.5, 1.5);
};

export async function checkLogitsParity(
  raw: Record<string, unknown>,
  reference: (cfg: ModelConfig) => ReferenceForward,
  { t = 12, atol = 2e-5, rtol = 1e-4 }: { t?: number; atol?: number; rtol?: number } = {},
): Promise<void> {
  const cfg = parseModelConfig(raw);
  const original = createModel(cfg, { seed: 3 });
  randomizeVectors(original, 11);
  const dir = mkdtempSync(join(tmpdir(), 'lmforge-family-'));
  try {
    original.save(dir);
    const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(saved.architectures, raw.architectures);
    const model = await loadModel(dir);
    const weights = new Map(model.namedParameters().map(([n, p]) => [n, Float64Array.from(p.toFloat32Array())]));
    const b = 2;
    const ids = Int32Array.from({ length: b * t }, (_, i) => (i * 37 + 5) % cfg.vocabSize);
    const mask = Int32Array.from({ length: b * t }, (_, i) => (i >= b * t - 3 ? 0 : 1));
    const expected = reference(model.config)((n) => weights.get(n), ids, b, t, mask);
    const actual = scope(() =>
      model
        .forward({ inputIds: { data: ids, shape: [b, t] }, attentionMask: { data: mask, shape: [b, t] } })
        .logits.toFloat32Array(),
    );
    const real = (_: number, i: number) => mask[Math.floor(i / cfg.vocabSize)] === 1;
    assertClose(actual.filter(real), expected.filter(real), { atol, rtol }, `${cfg.architecture} logits`);
    model.dispose();
  } finally {
    original.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function checkGradients(
  raw: Record<string, unknown>,
  reference: (cfg: ModelConfig) => ReferenceForward,
  names: readonly string[],
  { t = 7, tol = 2e-3 }: { t?: number; tol?: number } = {},
): void {
  const cfg = parseModelConfig(raw);
  const model = createModel(cfg, { seed: 5 });
  randomizeVectors(model, 13);
  model.setFullTraining();
  const b = 1;
  const ids = Int32Array.from({ length: b * t }, (_, i) => (i * 29 + 3) % cfg.vocabSize);
  const coef = Float64Array.from({ length: b * t * cfg.vocabSize }, (_, i) => Math.sin(i * 0.7));
  const weights = new Map(model.namedParameters().map(([n, p]) => [n, Float64Array.from(p.toFloat32Array())]));
  const forward = reference(cfg);
  const objective = () => forward((n) => weights.get(n), ids, b, t).reduce((s, x, i) => s + x * (coef[i] as number), 0);
  scope(() => {
    const { logits } = model.forward({ inputIds: { data: ids, shape: [b, t] } });
    sumAll(mul(logits, Tensor.from(Float32Array.from(coef), logits.shape))).backward();
  });
  const params = new Map(model.namedParameters());
  for (const name of names) {
    const w = weights.get(name);
    const param = params.get(name);
    assert.ok(w && param?.grad, `${name} has no gradient`);
    const grad = param.grad.toFloat32Array();
    for (const i of [0, 5, Math.floor(w.length / 2), w.length - 1]) {
      const h = 1e-4;
      const x = w[i] as number;
      w[i] = x + h;
      const up = objective();
      w[i] = x - h;
      const down = objective();
      w[i] = x;
      const want = (up - down) / (2 * h);
      const got = grad[i] as number;
      assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `${name}[${i}]: ${got} vs ${want}`);
    }
  }
  model.dispose();
}

/**
 * A LoRA SFT step with target 'all': `expectedTrainable` LoRA tensors all get gradients (the same ones with
 * gradient checkpointing, which recomputes each layer in the backward), and a few AdamW steps lower the loss.
 */
export function checkLoraStep(raw: Record<string, unknown>, expectedTrainable: number): void {
  const model = createModel(parseModelConfig(raw), { seed: 2, std: 0.1 });
  model.addLora({ r: 2, targetModules: 'all' });
  model.train();
  const ids = [[2, 9, 14, 3, 27, 41, 1]];
  const step = () =>
    scope(() => {
      const { loss } = model.forward({ inputIds: ids, labels: ids, returnLogits: false });
      loss.backward();
      return loss.item();
    });
  // B starts at 0, so only B gets a nonzero gradient at first: one step makes A's gradients nonzero too.
  const warmup = new AdamW(
    model.trainableParameters().map(([, t]) => t),
    { lr: 0.05 },
  );
  step();
  warmup.step();
  warmup.zeroGrad();
  model.gradientCheckpointing = true;
  step();
  const checkpointed = model.trainableParameters().map(([, t]) => t.grad?.toFloat32Array() ?? new Float32Array());
  warmup.zeroGrad();
  model.gradientCheckpointing = false;
  const first = step();
  const trainable = model.trainableParameters();
  assert.equal(trainable.length, expectedTrainable, trainable.map(([n]) => n).join(', '));
  for (const [i, [name, t]] of trainable.entries()) {
    assert.ok(t.grad, `${name} has a gradient`);
    assertClose(
      checkpointed[i] as Float32Array,
      t.grad.toFloat32Array(),
      { atol: 1e-6, rtol: 1e-4 },
      `${name} checkpointed`,
    );
  }
  const optimizer = new AdamW(
    trainable.map(([, t]) => t),
    { lr: 0.05 },
  );
  let last = first;
  for (let i = 0; i < 6; i++) {
    optimizer.step();
    optimizer.zeroGrad();
    last = step();
  }
  optimizer.zeroGrad();
  model.dispose();
  assert.ok(last < first, `loss ${first} -> ${last}`);
}

/** Greedy continuation recomputing the whole left-padded sequence at every step (no cache), as generate lays it out. */
function greedyWithoutCache(model: ReturnType<typeof createModel>, prompts: number[][], steps: number): Float32Array[] {
  const rows = prompts.map((p) => [...p]);
  const b = rows.length;
  const width = Math.max(...prompts.map((p) => p.length));
  const v = model.config.vocabSize;
  const logits: Float32Array[] = [];
  for (let step = 0; step < steps; step++) {
    const len = width + step;
    const data = new Int32Array(b * len);
    const attn = new Int32Array(b * len);
    const pos = new Int32Array(b * len).fill(1);
    rows.forEach((r, i) => {
      const pad = len - r.length;
      r.forEach((id, j) => {
        data[i * len + pad + j] = id;
        attn[i * len + pad + j] = 1;
        pos[i * len + pad + j] = j;
      });
    });
    const last = scope(() => {
      const all = model
        .forward({
          inputIds: { data, shape: [b, len] },
          attentionMask: { data: attn, shape: [b, len] },
          positionIds: { data: pos, shape: [b, len] },
        })
        .logits.toFloat32Array();
      const out = new Float32Array(b * v);
      for (let i = 0; i < b; i++) out.set(all.subarray((i * len + len - 1) * v, (i * len + len) * v), i * v);
      return out;
    });
    logits.push(last);
    rows.forEach((r, i) => {
      const row = last.subarray(i * v, (i + 1) * v);
      r.push(row.indexOf(Math.max(...row)));
    });
  }
  return logits;
}

/** Greedy generation with the KV cache (left padding, 10 steps) gives the logits of recomputing every step. */
export function checkCachedGeneration(raw: Record<string, unknown>): void {
  const model = createModel(parseModelConfig(raw), { seed: 3, std: 0.5 });
  try {
    const prompts = [
      [5, 17, 3],
      [8, 41, 22, 60, 9],
    ];
    const steps = 10;
    const stepLogits: Float32Array[] = [];
    model.generateDetailed(prompts, {
      maxNewTokens: steps,
      stop: [],
      onStepLogits: (l) => stepLogits.push(Float32Array.from(l)),
    });
    const recomputed = greedyWithoutCache(model, prompts, steps);
    assert.equal(stepLogits.length, steps);
    for (let s = 0; s < steps; s++)
      assertClose(
        stepLogits[s] as Float32Array,
        recomputed[s] as Float32Array,
        { atol: 2e-5, rtol: 1e-4 },
        `step ${s}`,
      );
  } finally {
    model.dispose();
  }
}
