/**
 * `forward({ ..., returnLogits: false })` (the fused linear cross-entropy, no logits) against the logits path on
 * the tiny parity model (tests/fixtures/parity/llama-tiny): the loss and every trainable gradient agree to 1e-5
 * of the gradient's largest element, for full fine-tuning with an untied and a tied head, LoRA (f32 and bf16 frozen
 * weights, a trainable head in modules_to_save), and a head carrying its own LoRA adapter (the logits fallback).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  Generator,
  keep,
  liveBytes,
  mul,
  native,
  normal_,
  scope,
  shiftLabels,
  sumAll,
  sumLastDim,
  Tensor,
  tokenLogProbs,
} from '../../src/engine/index.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { type CausalLM, createModel, loadModel } from '../../src/models/causal-lm.js';
import type { Linear } from '../../src/nn/linear.js';
import { LoraLinear } from '../../src/nn/lora-linear.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'parity', 'llama-tiny');
const ref = SafetensorsFile.open(join(DIR, 'reference.safetensors'));
const refInts = (name: string) => scope(() => ref.load(name).toInt32Array());
const rows = (flat: Int32Array, b: number, t: number) =>
  Array.from({ length: b }, (_, i) => [...flat.slice(i * t, (i + 1) * t)]);
const batch = {
  inputIds: rows(refInts('input_ids'), 2, 16),
  attentionMask: rows(refInts('attention_mask'), 2, 16),
  labels: rows(refInts('labels'), 2, 16),
};

interface Run {
  loss: number;
  grads: Map<string, Float32Array>;
}

/** Loss and every trainable gradient of one forward/backward, fused or through logits; clears the gradients. */
function run(model: CausalLM, fused: boolean, lossReduction: 'mean' | 'sum'): Run {
  const loss = scope(() => {
    const out = fused
      ? model.forward({ ...batch, lossReduction, returnLogits: false })
      : model.forward({ ...batch, lossReduction });
    assert.equal('logits' in out, !fused);
    const l = out.loss as Tensor;
    l.backward();
    return l.item();
  });
  const grads = new Map<string, Float32Array>();
  for (const [name, t] of model.trainableParameters()) {
    assert.ok(t.grad, `${name} has no gradient`);
    grads.set(name, t.grad.toFloat32Array());
    t.grad.dispose();
    t.grad = null;
  }
  return { loss, grads };
}

/** max |got - want| <= 1e-5 * max |want|, per tensor. */
function assertRelClose(got: Float32Array, want: Float32Array, label: string): void {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs((got[i] as number) - (want[i] as number)));
    scale = Math.max(scale, Math.abs(want[i] as number));
  }
  assert.ok(diff <= 1e-5 * scale, `${label}: max difference ${diff} exceeds 1e-5 x max |value| ${scale}`);
}

function assertFusedMatches(model: CausalLM, label: string, expectedTrainable: number): void {
  assert.equal(model.trainableParameters().length, expectedTrainable, `${label}: trainable tensors`);
  for (const reduction of ['mean', 'sum'] as const) {
    const want = run(model, false, reduction);
    const got = run(model, true, reduction);
    assert.ok(
      Math.abs(got.loss - want.loss) <= 1e-5 * Math.abs(want.loss),
      `${label} ${reduction}: loss ${got.loss} vs ${want.loss}`,
    );
    for (const [name, g] of want.grads) {
      assert.ok(
        g.some((v) => v !== 0),
        `${label}: ${name}'s gradient is all zero, the comparison would prove nothing`,
      );
      assertRelClose(got.grads.get(name) as Float32Array, g, `${label} ${reduction} ${name}`);
    }
  }
}

test('fused loss = logits path: full fine-tune, untied head, with and without gradient checkpointing', async () => {
  const model = await loadModel(DIR);
  model.setFullTraining();
  assertFusedMatches(model, 'full untied', 21);
  model.gradientCheckpointing = true;
  assertFusedMatches(model, 'full untied, checkpointed', 21);
  model.dispose();
});

test('fused loss = logits path: full fine-tune, tied head (the embedding gets both gradients)', () => {
  const raw = JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
  const model = createModel(parseModelConfig({ ...raw, tie_word_embeddings: true }), { seed: 3, std: 0.2 });
  const head = model.module.child('lm_head') as Linear;
  assert.equal(head.weight, model.module.model.embedTokens.weight);
  model.setFullTraining();
  assertFusedMatches(model, 'full tied', 20);
  model.dispose();
});

test('fused loss = logits path: LoRA with f32 and bf16 frozen weights, and a trainable head', async () => {
  const model = await loadModel(DIR);
  model.loadAdapter(join(DIR, 'lora-adapter'), { trainable: true });
  assertFusedMatches(model, 'lora f32', 28);
  const head = model.module.child('lm_head') as Linear;
  head.weight.requiresGrad = true; // a head trained beside the adapter (modules_to_save: lm_head)
  assertFusedMatches(model, 'lora + head', 29);
  head.weight.requiresGrad = false;
  model.castFrozen('bf16');
  assert.equal(head.weight.dtype, 'bf16');
  assertFusedMatches(model, 'lora bf16', 28);
  model.dispose();
});

/** How many times fn calls the fused kernel. */
function fusedKernelCalls(fn: () => void): number {
  const original = native.linearCrossEntropy;
  let calls = 0;
  native.linearCrossEntropy = (...args: unknown[]) => {
    calls++;
    return original(...args);
  };
  try {
    fn();
  } finally {
    native.linearCrossEntropy = original;
  }
  return calls;
}

test('a head with a live LoRA adapter takes the logits path; disabled, the fused one', async () => {
  const model = await loadModel(DIR);
  model.freezeAll();
  const base = model.module.child('lm_head') as Linear;
  const gen = new Generator(9);
  const a = keep(normal_(Tensor.empty([4, base.inFeatures]), gen, 0, 0.1)).requiresGrad_();
  const b = keep(normal_(Tensor.empty([base.outFeatures, 4]), gen, 0, 0.1)).requiresGrad_();
  const lora = new LoraLinear(base, { rank: 4, scaling: 2, dropout: 0 }, a, b, gen);
  model.module.replaceChild('lm_head', lora);
  const fusedForward = () => scope(() => void model.forward({ ...batch, returnLogits: false }));
  assert.equal(fusedKernelCalls(fusedForward), 0);
  assertFusedMatches(model, 'lora head', 2);
  lora.enabled = false;
  a.requiresGrad = b.requiresGrad = false;
  base.weight.requiresGrad = true;
  assert.equal(fusedKernelCalls(fusedForward), 1);
  assertFusedMatches(model, 'disabled lora head', 1);
  model.dispose();
});

test('the fused loss leaks nothing over training steps', async () => {
  const model = await loadModel(DIR);
  model.setFullTraining();
  run(model, true, 'sum');
  const before = liveBytes();
  for (let i = 0; i < 3; i++) run(model, true, 'sum');
  assert.equal(liveBytes(), before);
  model.dispose();
});

test('labelLogProbs = tokenLogProbs and row sums of the logits, with gradients (LoRA, tied full)', async () => {
  const lora = await loadModel(DIR);
  lora.loadAdapter(join(DIR, 'lora-adapter'), { trainable: true });
  const raw = JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
  const tied = createModel(parseModelConfig({ ...raw, tie_word_embeddings: true }), { seed: 3, std: 0.2 });
  tied.setFullTraining();
  for (const [label, model] of [
    ['lora', lora],
    ['full tied', tied],
  ] as const) {
    // A weighted sum of the log-probs as the objective, so every position's gradient matters.
    const weights = Tensor.from(
      Array.from({ length: 32 }, (_, i) => 1 + (i % 5)),
      [2, 16],
    );
    const both = [false, true].map((fused) => {
      const out = scope(() => {
        let logProbs: Tensor;
        let sums: Float32Array;
        if (fused) {
          const r = model.labelLogProbs(batch);
          logProbs = r.logProbs;
          sums = r.logitSums;
        } else {
          const { logits } = model.forward(batch);
          const labels = shiftLabels(Tensor.from(batch.labels.flat(), [2, 16], 'i32'));
          logProbs = tokenLogProbs(logits.reshape([32, -1]), labels.reshape([32])).reshape([2, 16]);
          sums = sumLastDim(logits.detach().reshape([32, -1])).toFloat32Array();
        }
        sumAll(mul(logProbs, weights)).backward();
        return { logProbs: logProbs.toFloat32Array(), sums };
      });
      const grads = new Map<string, Float32Array>();
      for (const [name, t] of model.trainableParameters()) {
        grads.set(name, (t.grad as Tensor).toFloat32Array());
        t.grad?.dispose();
        t.grad = null;
      }
      return { ...out, grads };
    });
    const [want, got] = both as [(typeof both)[0], (typeof both)[0]];
    assert.ok(want.logProbs.some((v) => v !== 0) && want.logProbs.some((v) => v === 0), 'ignored and counted labels');
    assertRelClose(got.logProbs, want.logProbs, `${label} log-probs`);
    assertRelClose(got.sums, want.sums, `${label} logit sums`);
    for (const [name, g] of want.grads) assertRelClose(got.grads.get(name) as Float32Array, g, `${label} ${name}`);
    weights.dispose();
  }
  lora.dispose();
  tied.dispose();
});
