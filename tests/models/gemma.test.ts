/**
 * Gemma's config flags as transformers' GemmaConfig reads them (head_dim 256, tied embeddings, bos 2 / eos 1 / pad 0,
 * the tanh GELU from hidden_activation over hidden_act), and a LoRA SFT step on a tiny random Gemma.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scope } from '../../src/engine/index.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { createModel } from '../../src/models/causal-lm.js';
import { AdamW } from '../../src/train/optimizers.js';

const sizes = {
  architectures: ['GemmaForCausalLM'],
  vocab_size: 64,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
};

test('Gemma config defaults and activation keys', () => {
  const cfg = parseModelConfig(sizes);
  assert.equal(cfg.modelType, 'gemma');
  assert.equal(cfg.headDim, 256);
  assert.equal(cfg.tieWordEmbeddings, true);
  assert.deepEqual([cfg.bosTokenId, cfg.eosTokenIds, cfg.padTokenId], [2, [1], 0]);
  assert.equal(cfg.hiddenAct, 'gelu_pytorch_tanh');
  // gemma-2b's config.json: hidden_act "gelu" beside hidden_activation "gelu_pytorch_tanh", which wins
  assert.equal(
    parseModelConfig({ ...sizes, hidden_act: 'gelu', hidden_activation: 'gelu_pytorch_tanh' }).hiddenAct,
    'gelu_pytorch_tanh',
  );
  assert.throws(
    () => parseModelConfig({ ...sizes, hidden_activation: 'gelu' }),
    /hidden_activation.*gelu_pytorch_tanh/,
  );
});

test('a LoRA SFT step on a tiny Gemma: every projection of every layer gets gradients, the loss falls', () => {
  const model = createModel(parseModelConfig({ ...sizes, head_dim: 8 }), { seed: 2, std: 0.1 });
  model.addLora({ r: 2, targetModules: 'all' });
  model.train();
  const ids = [[2, 9, 14, 3, 27, 41, 1]];
  const step = () =>
    scope(() => {
      const { loss } = model.forward({ inputIds: ids, labels: ids, returnLogits: false });
      loss.backward();
      return loss.item();
    });
  const first = step();
  const trainable = model.trainableParameters();
  assert.equal(trainable.length, 2 * 7 * 2);
  for (const [name, t] of trainable) assert.ok(t.grad, `${name} has a gradient`);
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
});
