/**
 * LLaMA Pro (lmforge expand + use_llama_pro): blocks inserted after every num_layers/num_expand layers are copies
 * with o_proj and down_proj zeroed, so the expanded model starts with the base model's logits; use_llama_pro then
 * trains only those blocks (freeze: their weights; LoRA: adapters on their projections), as LLaMA-Factory does.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { scope, type Tensor } from '../../src/engine/index.js';
import { parseTrainArgs } from '../../src/hparams/index.js';
import { type CausalLM, createModel, loadModel } from '../../src/models/causal-lm.js';
import { expandedLayerIds, expandModel } from '../../src/models/llama-pro.js';
import { setupTraining } from '../../src/train/training-mode.js';
import { tinyLlamaConfig } from '../util/tiny-config.js';
import { tempDir } from '../util/tokenizers.js';

const root = tempDir('lmforge-llama-pro-');
after(() => rmSync(root, { recursive: true, force: true }));

const baseDir = join(root, 'base');
const expandedDir = join(root, 'expanded');
{
  const m = createModel(tinyLlamaConfig({ num_hidden_layers: 4 }), { seed: 6, std: 0.3 });
  m.save(baseDir);
  m.dispose();
}
expandModel(baseDir, expandedDir, { numExpand: 2 });

function logitsOf(model: CausalLM, ids: number[][]): Float32Array {
  return scope(() => (model.forward({ inputIds: ids }) as { logits: Tensor }).logits.toFloat32Array());
}

test('expand: 4 + 2 layers, copies with zeroed o_proj/down_proj, and the base model logits', async () => {
  assert.equal(JSON.parse(readFileSync(join(expandedDir, 'config.json'), 'utf8')).num_hidden_layers, 6);
  const base = await loadModel(baseDir);
  const expanded = await loadModel(expandedDir);
  const weight = (m: CausalLM, name: string) =>
    m
      .namedParameters()
      .find(([n]) => n === name)?.[1]
      .toFloat32Array();
  // expanded layers 0,1,[2],3,4,[5] come from base layers 0,1,1,2,3,3
  for (const [to, from] of [
    [0, 0],
    [1, 1],
    [2, 1],
    [3, 2],
    [4, 3],
    [5, 3],
  ] as const) {
    for (const p of ['self_attn.q_proj', 'self_attn.o_proj', 'mlp.down_proj', 'mlp.up_proj', 'input_layernorm']) {
      const got = weight(expanded, `model.layers.${to}.${p}.weight`) as Float32Array;
      const zeroed = (to === 2 || to === 5) && /o_proj|down_proj/.test(p);
      if (zeroed)
        assert.ok(
          got.every((v) => v === 0),
          `layer ${to} ${p} is zero`,
        );
      else assert.deepEqual(got, weight(base, `model.layers.${from}.${p}.weight`), `layer ${to} ${p} = base ${from}`);
    }
  }
  const ids = [[4, 8, 15, 16, 23, 42]];
  assert.deepEqual(logitsOf(expanded, ids), logitsOf(base, ids), 'the expanded model starts as the base');
  base.dispose();
  expanded.dispose();
});

test('use_llama_pro trains only the expanded blocks (freeze and LoRA)', async () => {
  assert.deepEqual(expandedLayerIds(6, 2), [2, 5]);
  assert.throws(() => expandedLayerIds(6, 4), /divisible/);
  const common = { model_name_or_path: expandedDir, output_dir: join(root, 'o'), dataset: 'd', use_llama_pro: true };
  const layersOf = (m: CausalLM) =>
    [...new Set(m.trainableParameters().map(([n]) => Number(/layers\.(\d+)\./.exec(n)?.[1])))].sort();

  const freeze = await loadModel(expandedDir);
  setupTraining(freeze, parseTrainArgs({ ...common, finetuning_type: 'freeze', freeze_trainable_layers: 2 }), () => {});
  assert.deepEqual(layersOf(freeze), [2, 5]);
  freeze.dispose();

  const lora = await loadModel(expandedDir);
  setupTraining(lora, parseTrainArgs({ ...common, finetuning_type: 'lora', freeze_trainable_layers: 2 }), () => {});
  assert.deepEqual(layersOf(lora), [2, 5]);
  assert.ok(lora.trainableParameters().every(([n]) => /lora_[AB]/.test(n)));
  assert.equal(lora.trainableParameters().length, 2 * 7 * 2, 'A and B on the 7 projections of 2 layers');
  lora.dispose();
});
