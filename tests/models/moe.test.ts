/**
 * The sparse MoE families (Mixtral, Qwen2-MoE, Qwen3-MoE) on tiny random checkpoints this test writes itself: config
 * flags, save/load round trip with HF's parameter names, logits and the router load-balancing loss against a float64
 * reference, full-training gradients (router, experts, shared expert, attention) against finite differences of the
 * reference's loss including router_aux_loss_coef x aux — with and without gradient checkpointing — the grouped
 * expert GEMMs, and a LoRA SFT step with `all` targets.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Generator, gemmCallCount, scope, uniform_ } from '../../src/engine/index.js';
import { type ModelConfig, parseModelConfig } from '../../src/io/model-config.js';
import { createModel, loadModel } from '../../src/models/causal-lm.js';
import { AdamW } from '../../src/train/optimizers.js';
import { assertClose } from '../util/assert.js';
import { llamaReferenceConfig, referenceLogits } from '../util/llama-reference.js';
import { type MoeRouting, moeReferenceMlp, referenceAuxLoss } from '../util/moe-reference.js';
import { TINY_MOE_KEYS } from '../util/tiny-config.js';

const base = {
  vocab_size: 61,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  max_position_embeddings: 64,
  initializer_range: 0.3,
  tie_word_embeddings: false,
};

const VARIANTS: [string, Record<string, unknown>][] = [
  ['mixtral (renormalised top-2 of 4)', TINY_MOE_KEYS.mixtral],
  ['qwen2-moe (shared expert, top-3 of 5 unnormalised, layer 0 dense by mlp_only_layers)', TINY_MOE_KEYS.qwen2Moe],
  ['qwen3-moe (q/k norms, norm_topk_prob, head_dim 8)', TINY_MOE_KEYS.qwen3Moe],
];

function referenceConfig(cfg: ModelConfig, t: number, weights: Map<string, Float64Array>, routing: MoeRouting) {
  const moe = cfg.moe;
  assert.ok(moe);
  return { ...llamaReferenceConfig(cfg, t), mlp: moeReferenceMlp(moe, cfg.hiddenSize, (n) => weights.get(n), routing) };
}

function randomizeVectors(model: { namedParameters(): [string, import('../../src/engine/index.js').Tensor][] }) {
  const gen = new Generator(11);
  for (const [, t] of model.namedParameters()) if (t.ndim === 1) uniform_(t, gen, 0.5, 1.5);
}

test('MoE config flags as transformers reads them', () => {
  const mixtral = parseModelConfig({ ...base, architectures: ['MixtralForCausalLM'] });
  assert.equal(mixtral.modelType, 'mixtral');
  assert.deepEqual(
    [mixtral.moe?.numExperts, mixtral.moe?.topK, mixtral.moe?.expertIntermediateSize, mixtral.moe?.normTopkProb],
    [8, 2, 24, true],
  );
  assert.equal(mixtral.moe?.routerAuxLossCoef, 0.001);
  assert.equal(mixtral.moe?.outputRouterLogits, false);
  assert.equal(mixtral.qkvBias, false);
  assert.equal(mixtral.slidingWindow, null);
  const qwen2 = parseModelConfig({ ...base, architectures: ['Qwen2MoeForCausalLM'], decoder_sparse_step: 2 });
  assert.deepEqual(qwen2.moe?.sparseLayers, [false, true]);
  assert.deepEqual([qwen2.moe?.numExperts, qwen2.moe?.topK, qwen2.moe?.sharedExpertIntermediateSize], [60, 4, 5632]);
  assert.equal(qwen2.qkvBias, true);
  assert.equal(qwen2.moe?.normTopkProb, false);
  const qwen3 = parseModelConfig({ ...base, architectures: ['Qwen3MoeForCausalLM'] });
  assert.deepEqual([qwen3.moe?.numExperts, qwen3.moe?.topK, qwen3.moe?.sharedExpertIntermediateSize], [128, 8, 0]);
  assert.equal(qwen3.qkNorm, true);
  assert.throws(
    () =>
      parseModelConfig({
        ...base,
        architectures: ['MixtralForCausalLM'],
        num_local_experts: 2,
        num_experts_per_tok: 3,
      }),
    /num_experts_per_tok.*3 is more than the 2 experts/,
  );
  assert.throws(
    () => parseModelConfig({ ...base, architectures: ['MixtralForCausalLM'], router_jitter_noise: 0.1 }),
    /router_jitter_noise.*set it to 0/,
  );
});

for (const [label, extra] of VARIANTS) {
  test(`MoE architecture: ${label} — HF names, round trip, logits and aux loss equal the float64 reference`, async () => {
    const cfg = parseModelConfig({ ...base, ...extra, output_router_logits: true, router_aux_loss_coef: 0.25 });
    const original = createModel(cfg, { seed: 3 });
    randomizeVectors(original);
    const dir = mkdtempSync(join(tmpdir(), 'lmforge-moe-'));
    try {
      original.save(dir);
      const model = await loadModel(dir);
      const names = new Set(model.namedParameters().map(([n]) => n));
      const block = cfg.moe?.blockName;
      const expert0 = cfg.moe?.expertNames.gate;
      assert.ok(names.has(`model.layers.1.${block}.gate.weight`));
      assert.ok(names.has(`model.layers.1.${block}.experts.0.${expert0}.weight`));
      if (cfg.moe?.sharedExpertIntermediateSize) assert.ok(names.has('model.layers.1.mlp.shared_expert_gate.weight'));
      if (!cfg.moe?.sparseLayers[0]) assert.ok(names.has('model.layers.0.mlp.gate_proj.weight'));
      const weights = new Map(model.namedParameters().map(([n, t]) => [n, Float64Array.from(t.toFloat32Array())]));
      const b = 2;
      const t = 9;
      const ids = Int32Array.from({ length: b * t }, (_, i) => (i * 37 + 5) % cfg.vocabSize);
      const mask = Int32Array.from({ length: b * t }, (_, i) => (i >= b * t - 3 ? 0 : 1));
      const labels = Int32Array.from(ids, (id, i) => (mask[i] ? id : -100));
      const routing: MoeRouting = { probs: new Map(), selected: new Map() };
      const expected = referenceLogits(
        referenceConfig(cfg, t, weights, routing),
        (n) => weights.get(n),
        ids,
        b,
        t,
        mask,
      );
      const { logits, loss } = scope(() => {
        const out = model.forward({
          inputIds: { data: ids, shape: [b, t] },
          attentionMask: { data: mask, shape: [b, t] },
          labels: { data: labels, shape: [b, t] },
        });
        return {
          logits: out.logits.toFloat32Array(),
          loss: (out.loss as import('../../src/engine/index.js').Tensor).item(),
        };
      });
      const real = (_: number, i: number) => mask[Math.floor(i / cfg.vocabSize)] === 1;
      assertClose(logits.filter(real), expected.filter(real), { atol: 2e-5, rtol: 1e-4 }, label);
      // loss = mean CE over the shifted labels + coef * aux
      let ce = 0;
      let count = 0;
      const v = cfg.vocabSize;
      for (let r = 0; r < b; r++)
        for (let j = 0; j + 1 < t; j++) {
          const y = labels[r * t + j + 1] as number;
          if (y === -100) continue;
          const row = expected.subarray((r * t + j) * v, (r * t + j + 1) * v);
          const m = Math.max(...row);
          const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
          ce += lse - (row[y] as number);
          count++;
        }
      const aux = referenceAuxLoss(cfg.moe as NonNullable<ModelConfig['moe']>, routing, b * t, mask);
      assert.ok(aux > 0.9, `aux ${aux}`); // E * sum f P is 1 for perfectly balanced routing, more otherwise
      assertClose([loss], [ce / count + 0.25 * aux], { atol: 2e-5, rtol: 1e-5 }, `${label} loss`);
      model.dispose();
    } finally {
      original.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

for (const [label, extra] of VARIANTS)
  for (const checkpointing of [false, true])
    test(`MoE gradients incl. the router aux loss match finite differences: ${label}${checkpointing ? ', checkpointed' : ''}`, () => {
      const coefAux = 0.5;
      const cfg = parseModelConfig({ ...base, ...extra, output_router_logits: true, router_aux_loss_coef: coefAux });
      const moe = cfg.moe as NonNullable<ModelConfig['moe']>;
      const model = createModel(cfg, { seed: 5 });
      randomizeVectors(model);
      model.setFullTraining();
      model.gradientCheckpointing = checkpointing;
      const b = 1;
      const t = 7;
      const ids = Int32Array.from({ length: b * t }, (_, i) => (i * 29 + 3) % cfg.vocabSize);
      const weights = new Map(model.namedParameters().map(([n, p]) => [n, Float64Array.from(p.toFloat32Array())]));
      const routing: MoeRouting = { probs: new Map(), selected: new Map() };
      const ref = referenceConfig(cfg, t, weights, routing);
      const objective = () => {
        const logits = referenceLogits(ref, (n) => weights.get(n), ids, b, t);
        const v = cfg.vocabSize;
        let ce = 0;
        for (let j = 0; j + 1 < t; j++) {
          const row = logits.subarray(j * v, (j + 1) * v);
          const m = Math.max(...row);
          ce += m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0)) - (row[ids[j + 1] as number] as number);
        }
        return ce / (t - 1) + coefAux * referenceAuxLoss(moe, routing, b * t);
      };
      objective();
      routing.frozen = new Map(routing.selected);
      scope(() => {
        const { loss } = model.forward({
          inputIds: { data: ids, shape: [b, t] },
          labels: { data: ids, shape: [b, t] },
          returnLogits: false,
        });
        loss.backward();
      });
      const blk = `model.layers.1.${moe.blockName}`;
      const names = [
        `${blk}.gate.weight`,
        `${blk}.experts.0.${moe.expertNames.gate}.weight`,
        `${blk}.experts.1.${moe.expertNames.down}.weight`,
        'model.layers.0.self_attn.q_proj.weight',
        'model.layers.1.post_attention_layernorm.weight',
        'model.embed_tokens.weight',
        ...(moe.sharedExpertIntermediateSize
          ? [`${blk}.shared_expert_gate.weight`, `${blk}.shared_expert.up_proj.weight`]
          : []),
      ];
      const params = new Map(model.namedParameters());
      for (const name of names) {
        const w = weights.get(name) as Float64Array;
        const param = params.get(name);
        assert.ok(param, `${name} exists`);
        if (!param.grad) {
          // an expert no token chose has no gradient; so has its reference derivative (checked as zero)
          assert.ok(name.includes('.experts.'), `${name} has no gradient`);
        }
        const grad = param.grad ? param.grad.toFloat32Array() : new Float32Array(w.length);
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
          assert.ok(Math.abs(got - want) <= 2e-3 * Math.max(1, Math.abs(want)), `${name}[${i}]: ${got} vs ${want}`);
        }
      }
      model.dispose();
    });

test('the router aux loss changes the router gradient by exactly its own term, and is off without output_router_logits', () => {
  const extra = VARIANTS[0]?.[1] as Record<string, unknown>;
  const ids = [[3, 9, 14, 3, 27, 41, 1, 8]];
  const routerGrad = (flags: Record<string, unknown>) => {
    const model = createModel(parseModelConfig({ ...base, ...extra, ...flags }), { seed: 4 });
    model.setFullTraining();
    const out = scope(() => {
      const { loss } = model.forward({ inputIds: ids, labels: ids, returnLogits: false });
      loss.backward();
      return {
        loss: loss.item(),
        grad: model
          .namedParameters()
          .find(([n]) => n === 'model.layers.0.block_sparse_moe.gate.weight')?.[1]
          .grad?.toFloat32Array() as Float32Array,
      };
    });
    model.dispose();
    return out;
  };
  const off = routerGrad({});
  const on = routerGrad({ output_router_logits: true, router_aux_loss_coef: 0.1 });
  assert.ok(on.loss > off.loss, 'the aux term is positive');
  assert.ok(
    on.grad.some((g, i) => Math.abs(g - (off.grad[i] as number)) > 1e-6),
    'the aux term reaches the router',
  );
});

test('expert GEMMs are grouped: the GEMM count of a forward does not grow with the tokens', () => {
  const cfg = parseModelConfig({ ...base, ...(VARIANTS[0]?.[1] as object) });
  const model = createModel(cfg, { seed: 6 });
  const calls = (t: number) =>
    scope(() => {
      const before = gemmCallCount();
      model.forward({ inputIds: [Array.from({ length: t }, (_, i) => (i * 13 + 1) % cfg.vocabSize)] });
      return gemmCallCount() - before;
    });
  const short = calls(24);
  assert.equal(calls(48), short);
  // per layer: q, k, v, o, the router, 3 per expert and one weight broadcast per expert; then the head
  assert.equal(short, cfg.numHiddenLayers * (4 + 1 + 4 * (3 + 1)) + 1);
  model.dispose();
});

test('a LoRA SFT step on a tiny Qwen2-MoE: `all` wraps the router, experts and shared expert, the loss falls', () => {
  const cfg = parseModelConfig({ ...base, ...(VARIANTS[1]?.[1] as object), output_router_logits: true });
  const model = createModel(cfg, { seed: 2, std: 0.1 });
  model.addLora({ r: 2, targetModules: 'all' });
  model.train();
  const trainable = new Set(model.trainableParameters().map(([n]) => n));
  for (const path of [
    'model.layers.1.mlp.gate',
    'model.layers.1.mlp.experts.4.down_proj',
    'model.layers.1.mlp.shared_expert.gate_proj',
    'model.layers.1.mlp.shared_expert_gate',
    'model.layers.0.mlp.up_proj',
  ])
    assert.ok(trainable.has(`base_model.model.${path}.lora_A.weight`), `${path} has a LoRA adapter`);
  const ids = [[2, 9, 14, 3, 27, 41, 1, 33, 12, 5]];
  const step = () =>
    scope(() => {
      const { loss } = model.forward({ inputIds: ids, labels: ids, returnLogits: false });
      loss.backward();
      return loss.item();
    });
  const first = step();
  const optimizer = new AdamW(
    model.trainableParameters().map(([, t]) => t),
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
});

test('generation over the KV cache on a tiny Mixtral continues as the full forward would (greedy)', () => {
  const cfg = parseModelConfig({ ...base, ...(VARIANTS[0]?.[1] as object), output_router_logits: true });
  const model = createModel(cfg, { seed: 8, std: 0.5 });
  const prompt = [3, 17, 29, 4, 11];
  const out = model.generate(prompt, { maxNewTokens: 4, doSample: false });
  const tokens = [...prompt];
  for (let i = 0; i < 4; i++) {
    const next = scope(() => {
      const logits = model.forward({ inputIds: [tokens] }).logits.toFloat32Array();
      const last = logits.subarray((tokens.length - 1) * cfg.vocabSize);
      return last.indexOf(Math.max(...last));
    });
    tokens.push(next);
  }
  assert.deepEqual(out, tokens);
  model.dispose();
});

test('QLoRA on a 4-bit Qwen3-MoE: the experts load quantized, the router unquantized, and a LoRA step trains', async () => {
  const cfg = parseModelConfig({
    ...base,
    ...(VARIANTS[2]?.[1] as object),
    hidden_size: 64,
    moe_intermediate_size: 64,
  });
  const original = createModel(cfg, { seed: 9, std: 0.1 });
  const dir = mkdtempSync(join(tmpdir(), 'lmforge-moe-q-'));
  try {
    original.save(dir);
    const model = await loadModel(dir, { quantization: { bits: 4 } });
    const quantized = new Set(model.quantizedWeights().map(([n]) => n));
    assert.ok(quantized.has('model.layers.0.mlp.experts.0.gate_proj.weight'), [...quantized].join(', '));
    assert.ok(!quantized.has('model.layers.0.mlp.gate.weight'), 'the router stays unquantized');
    model.addLora({ r: 2, targetModules: 'all' });
    model.train();
    const ids = [[2, 9, 14, 3, 27, 41, 1, 33]];
    const loss = () =>
      scope(() => {
        const { loss: l } = model.forward({ inputIds: ids, labels: ids, returnLogits: false });
        l.backward();
        return l.item();
      });
    const first = loss();
    const optimizer = new AdamW(
      model.trainableParameters().map(([, t]) => t),
      { lr: 0.05 },
    );
    let last = first;
    for (let i = 0; i < 4; i++) {
      optimizer.step();
      optimizer.zeroGrad();
      last = loss();
    }
    optimizer.zeroGrad();
    assert.ok(last < first, `loss ${first} -> ${last}`);
    model.dispose();
  } finally {
    original.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
