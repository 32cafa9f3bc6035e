/**
 * Sliding-window attention at model level (Mistral: every layer; Qwen2 with use_sliding_window: layers from
 * max_window_layers on): logits of a 12-token sequence with a window of 4 against the float64 reference forward, and
 * greedy generation past the window with the KV cache against recomputing the whole sequence at every step.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scope } from '../../src/engine/index.js';
import { type ModelConfig, parseModelConfig } from '../../src/io/model-config.js';
import { type CausalLM, createModel } from '../../src/models/causal-lm.js';
import { assertClose, maxAbsDiff } from '../util/assert.js';
import { llamaReferenceConfig, type ReferenceConfig, referenceLogits } from '../util/llama-reference.js';
import { TINY_FAMILY_SIZES } from '../util/tiny-config.js';

const base = TINY_FAMILY_SIZES;
const B = 2;
const T = 12;
const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 37 + 5) % base.vocab_size);
const mask = Int32Array.from({ length: B * T }, (_, i) => (i >= B * T - 3 ? 0 : 1)); // row 1 right-padded

// std 0.5: attention far from uniform, so which keys a query sees changes the logits well beyond the tolerance.
function build(extra: Record<string, unknown>): { cfg: ModelConfig; model: CausalLM } {
  const cfg = parseModelConfig({ ...base, ...extra });
  return { cfg, model: createModel(cfg, { seed: 3, std: 0.5 }) };
}

function reference(cfg: ModelConfig, model: CausalLM, slidingWindow?: ReferenceConfig['slidingWindow']): number[] {
  const weights = new Map(model.namedParameters().map(([n, t]) => [n, Float64Array.from(t.toFloat32Array())]));
  const refCfg = llamaReferenceConfig(cfg, T);
  if (slidingWindow) refCfg.slidingWindow = slidingWindow;
  return realRows(cfg, Array.from(referenceLogits(refCfg, (n) => weights.get(n), ids, B, T, mask)));
}

/** Logits of the unpadded positions only (padded queries' values are arbitrary). */
function realRows(cfg: ModelConfig, logits: ArrayLike<number>): number[] {
  return Array.from(logits).filter((_, i) => mask[Math.floor(i / cfg.vocabSize)] === 1);
}

function logitsOf(cfg: ModelConfig, model: CausalLM): number[] {
  return scope(() =>
    realRows(
      cfg,
      model
        .forward({ inputIds: { data: ids, shape: [B, T] }, attentionMask: { data: mask, shape: [B, T] } })
        .logits.toFloat32Array(),
    ),
  );
}

const TOL = { atol: 2e-5, rtol: 1e-4 };

test('mistral sliding_window 4 over 12 tokens: logits equal the float64 reference with the window, every layer', () => {
  const { cfg, model } = build({ architectures: ['MistralForCausalLM'], sliding_window: 4 });
  try {
    assert.deepEqual(cfg.slidingWindow, { size: 4, fromLayer: 0 });
    const got = logitsOf(cfg, model);
    assertClose(got, reference(cfg, model, { size: 4, fromLayer: 0 }), TOL, 'window 4');
    // The comparison can tell: no window, a window one key shorter or longer, all give other logits.
    assert.ok(maxAbsDiff(got, reference(cfg, model)) > 1e-2, 'the window changes the logits');
    assert.ok(maxAbsDiff(got, reference(cfg, model, { size: 3, fromLayer: 0 })) > 1e-2, 'window 3 differs');
    assert.ok(maxAbsDiff(got, reference(cfg, model, { size: 5, fromLayer: 0 })) > 1e-2, 'window 5 differs');
  } finally {
    model.dispose();
  }
});

test('qwen2 use_sliding_window with max_window_layers 1: only the upper layer slides', () => {
  const { cfg, model } = build({
    architectures: ['Qwen2ForCausalLM'],
    use_sliding_window: true,
    sliding_window: 4,
    max_window_layers: 1,
  });
  try {
    assert.deepEqual(cfg.slidingWindow, { size: 4, fromLayer: 1 });
    const got = logitsOf(cfg, model);
    assertClose(got, reference(cfg, model, { size: 4, fromLayer: 1 }), TOL, 'layer 1 windowed');
    assert.ok(maxAbsDiff(got, reference(cfg, model, { size: 4, fromLayer: 0 })) > 1e-2, 'layer 0 is not windowed');
    assert.ok(maxAbsDiff(got, reference(cfg, model)) > 1e-2, 'layer 1 is windowed');
  } finally {
    model.dispose();
  }
});

/** Greedy continuation by running the whole left-padded sequence at every step (no cache), as generate lays it out. */
function greedyWithoutCache(
  model: CausalLM,
  prompts: number[][],
  steps: number,
): { tokens: number[][]; logits: Float32Array[] } {
  const rows = prompts.map((p) => [...p]);
  const width = Math.max(...prompts.map((p) => p.length));
  const logits: Float32Array[] = [];
  const V = model.config.vocabSize;
  for (let step = 0; step < steps; step++) {
    const len = width + step;
    const data = new Int32Array(B * len);
    const attn = new Int32Array(B * len);
    const pos = new Int32Array(B * len).fill(1);
    rows.forEach((r, b) => {
      const pad = len - r.length;
      r.forEach((id, j) => {
        data[b * len + pad + j] = id;
        attn[b * len + pad + j] = 1;
        pos[b * len + pad + j] = j;
      });
    });
    const last = scope(() => {
      const all = model
        .forward({
          inputIds: { data, shape: [B, len] },
          attentionMask: { data: attn, shape: [B, len] },
          positionIds: { data: pos, shape: [B, len] },
        })
        .logits.toFloat32Array();
      const out = new Float32Array(B * V);
      for (let b = 0; b < B; b++) out.set(all.subarray((b * len + len - 1) * V, (b * len + len) * V), b * V);
      return out;
    });
    logits.push(last);
    rows.forEach((r, b) => {
      const row = last.subarray(b * V, (b + 1) * V);
      r.push(row.indexOf(Math.max(...row)));
    });
  }
  return { tokens: rows.map((r, b) => r.slice((prompts[b] as number[]).length)), logits };
}

test('greedy generation past the window with the KV cache equals recomputing the full forward at every step', () => {
  const prompts = [
    [5, 17, 3],
    [8, 41, 22, 60, 9],
  ];
  const steps = 10; // sequences of up to 15 tokens, window 4
  const windowed = build({ architectures: ['MistralForCausalLM'], sliding_window: 4 }).model;
  const full = build({ architectures: ['MistralForCausalLM'], sliding_window: null }).model;
  try {
    const stepLogits: Float32Array[] = [];
    const generated = windowed.generateDetailed(prompts, {
      maxNewTokens: steps,
      stop: [],
      onStepLogits: (l) => stepLogits.push(Float32Array.from(l)),
    });
    const recomputed = greedyWithoutCache(windowed, prompts, steps);
    assert.deepEqual(generated.tokens, recomputed.tokens);
    for (let s = 0; s < steps; s++)
      assertClose(stepLogits[s] as Float32Array, recomputed.logits[s] as Float32Array, TOL, `step ${s}`);
    // The same weights without the window decode differently once the sequences outgrow it.
    const unwindowed = greedyWithoutCache(full, prompts, steps);
    assert.ok(maxAbsDiff(stepLogits[steps - 1] as Float32Array, unwindowed.logits[steps - 1] as Float32Array) > 1e-2);
  } finally {
    windowed.dispose();
    full.dispose();
  }
});
