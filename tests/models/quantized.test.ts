/**
 * A quantized base (LLaMA-Factory's quantization_bit 4/8, bitsandbytes' formats): loading quantizes the decoder's
 * projections, QLoRA's gradients are those of the f32 model holding the dequantized weights, and LLaMA-Factory's
 * rules for a quantized base hold (LoRA only, one adapter, no merge, no full save).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { liveBytes, scope, Tensor } from '../../src/engine/index.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { type CausalLM, createModel, loadModel, type QuantizationOptions } from '../../src/models/causal-lm.js';
import { assertClose, maxAbsDiff } from '../util/assert.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('lmforge-quantized-');
after(() => rmSync(root, { recursive: true, force: true }));

const dir = join(root, 'base');
{
  const cfg = parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 96,
    hidden_size: 64,
    intermediate_size: 96,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 64,
    attention_bias: true,
  });
  const m = createModel(cfg, { seed: 3 });
  m.save(dir);
  m.dispose();
}

const ids = [
  [5, 17, 42, 8, 91, 3, 60, 22, 11],
  [7, 7, 30, 64, 2, 88, 45, 19, 50],
];

/** The f32 model whose projections hold exactly the quantized model's dequantized values. */
async function dequantizedTwin(q: CausalLM): Promise<CausalLM> {
  const twin = await loadModel(dir);
  scope(() => {
    twin.loadParameters(
      q.quantizedWeights().map(([name, m]) => [name, m.dequantize()] as [string, Tensor]),
      'the dequantized weights',
    );
  });
  return twin;
}

/** The LoRA gradients (name -> values) of one loss on `ids`, after addLora with a fixed seed. */
function loraGrads(model: CausalLM): Map<string, Float32Array> {
  model.addLora({ r: 4, alpha: 8, targetModules: 'all', seed: 7 });
  // B starts at zero, so A's gradient would be zero: move B first (the same values in every model compared)
  scope(() => {
    for (const [name, t] of model.trainableParameters())
      if (name.includes('lora_B')) model.loadParameters([[name, fill(t, 0.05)]], 'test');
  });
  model.train();
  const out = new Map<string, Float32Array>();
  scope(() => {
    const { loss } = model.forward({ inputIds: ids, labels: ids }) as { loss: Tensor };
    loss.backward();
    for (const [name, t] of model.trainableParameters()) {
      out.set(name, t.grad?.toFloat32Array() as Float32Array);
      t.grad?.dispose();
      t.grad = null;
    }
  });
  return out;
}

function fill(t: Tensor, s: number): Tensor {
  return Tensor.from(
    Float32Array.from({ length: t.numel }, (_, i) => s * Math.sin(i + 1)),
    t.shape,
  );
}

for (const quantization of [
  { bits: 4, type: 'nf4' },
  { bits: 4, type: 'fp4', doubleQuant: false },
  { bits: 8 },
] as QuantizationOptions[]) {
  const label = quantization.bits === 8 ? 'int8' : (quantization.type ?? 'nf4');
  test(`${label}: loading quantizes every projection; QLoRA gradients equal those over the dequantized weights`, async () => {
    const before = liveBytes();
    const q = await loadModel(dir, { quantization });
    const full = await loadModel(dir);
    assert.equal(q.quantization, label);
    assert.equal(q.quantizedWeights().length, 2 * 7);
    // the quantized weights left the parameters; the count of weights stays the model's
    assert.equal(q.parameterCount(), full.parameterCount());
    assert.ok(!q.namedParameters().some(([n]) => n.endsWith('q_proj.weight')));
    assert.ok(
      q.namedParameters().some(([n]) => n.endsWith('q_proj.bias')),
      'biases stay f32 parameters',
    );
    assert.ok(
      q.namedParameters().some(([n]) => n === 'lm_head.weight'),
      'the head is not quantized',
    );
    const twin = await dequantizedTwin(q);
    const logits = (m: CausalLM) =>
      scope(() => ((m.forward({ inputIds: ids }) as { logits: Tensor }).logits as Tensor).toFloat32Array());
    const lq = logits(q);
    assertClose(lq, logits(twin), { atol: 1e-5, rtol: 1e-5 }, 'logits vs the dequantized twin');
    const quantError = maxAbsDiff(lq, logits(full));
    assert.ok(quantError > 0, 'quantization changes the logits');

    const gq = loraGrads(q);
    const gTwin = loraGrads(twin);
    const gFull = loraGrads(full);
    assert.equal(gq.size, 2 * 7 * 2);
    let worst = 0;
    for (const [name, g] of gq) {
      assertClose(g, gTwin.get(name) as Float32Array, { atol: 1e-6, rtol: 1e-5 }, name);
      worst = Math.max(worst, maxAbsDiff(g, gFull.get(name) as Float32Array));
    }
    assert.ok(worst > 0, 'the gradients over the quantized base differ from the original model');
    console.log(
      `# ${label}: max |logit - f32 logit| ${quantError.toExponential(2)}, max |grad - f32 grad| ${worst.toExponential(2)}`,
    );
    for (const m of [q, twin, full]) m.dispose();
    assert.equal(liveBytes(), before, 'dispose frees the quantized weights too');
  });
}

test("LLaMA-Factory's rules for a quantized base: no merge, no second adapter, no full/freeze tuning", async () => {
  const q = await loadModel(dir, { quantization: { bits: 4 } });
  try {
    assert.throws(() => q.setFullTraining(), /quantized/);
    assert.throws(() => q.setFreezeTraining({ trainableLayers: 1 }), /quantized/);
    q.addLora({ r: 2, targetModules: ['q_proj', 'v_proj'] });
    const adapter = join(root, 'adapter');
    q.saveAdapter(adapter);
    assert.throws(() => q.mergeAdapter(), /cannot merge a LoRA adapter into a quantized \(nf4\) base/);
    assert.throws(() => q.loadAdapter(adapter), /cannot merge a LoRA adapter into a quantized/);
    // the adapter itself loads onto a fresh quantized base
    const again = await loadModel(dir, { quantization: { bits: 4 }, adapter });
    assert.equal(again.adapterConfig?.r, 2);
    again.dispose();
    assert.match(q.quantizationSummary(), /nf4 \+ double quantization, 14 projections/);
  } finally {
    q.dispose();
  }
});

test('4-bit storage costs what bitsandbytes promises: 0.5 bytes per weight plus 4/64 (f32 scales) or 1/64 + 4/(64*256) (double quant: 0.516)', async () => {
  const bytesPerWeight = async (quantization: QuantizationOptions) => {
    const q = await loadModel(dir, { quantization });
    const ws = q.quantizedWeights();
    const values = ws.reduce((a, [, m]) => a + m.rows * m.cols, 0);
    // code books are per matrix (64 B for 4 bits, 1 KiB for the dynamic map): not per weight
    const books = ws.reduce((a, [, m]) => a + (m.type === 'int8' ? 0 : 64 + (m.doubleQuantized ? 1024 : 0)), 0);
    const b = (ws.reduce((a, [, m]) => a + m.bytes, 0) - books) / values;
    q.dispose();
    return b;
  };
  assert.ok(Math.abs((await bytesPerWeight({ bits: 4, doubleQuant: false })) - (0.5 + 4 / 64)) < 1e-9);
  const dq = await bytesPerWeight({ bits: 4 });
  assert.ok(dq > 0.5 + 1 / 64 && dq < 0.5 + 1 / 64 + 0.001, `double quant: ${dq}`);
  assert.ok(Math.abs((await bytesPerWeight({ bits: 8 })) - (1 + 4 / 64)) < 0.1);
});
