/**
 * LoRA+ (loraplus_lr_ratio, loraplus_lr_embedding): LLaMA-Factory's optimizer groups put lora_B (and 1-D weights)
 * at learning_rate * ratio, lora_A at learning_rate; the schedule scales every group by the same factor. Checked on
 * the groups and on one AdamW update, whose first step moves each weight by about its group's rate.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keep, Tensor } from '../../src/engine/index.js';
import { parseTrainArgs } from '../../src/hparams/index.js';
import { createModel } from '../../src/models/causal-lm.js';
import { applyScheduledLr, createOptimizer } from '../../src/train/run-setup.js';
import { tinyLlamaConfig } from '../util/tiny-config.js';

const args = parseTrainArgs({
  model_name_or_path: 'm',
  output_dir: 'o',
  dataset: 'd',
  learning_rate: 1e-3,
  loraplus_lr_ratio: 16,
  weight_decay: 0,
});

test('LoRA+: lora_B gets learning_rate x ratio; one AdamW step moves B 16 times as far as A', () => {
  const model = createModel(tinyLlamaConfig(), { seed: 1 });
  model.addLora({ r: 2, targetModules: 'all', modulesToSave: ['norm'] });
  const trainable = model.trainableParameters();
  const ratio = args.finetuning.loraplus_lr_ratio as number;
  const optimizer = createOptimizer(trainable, args.training, {
    ratio,
    embeddingLr: args.finetuning.loraplus_lr_embedding,
  });
  const lrOf = new Map(optimizer.paramGroups.flatMap((g) => g.params.map((p) => [p, g.lr] as const)));
  for (const [name, t] of trainable) {
    const expected = name.includes('lora_B') || t.ndim === 1 ? 1e-3 * ratio : 1e-3;
    assert.equal(lrOf.get(t), expected, name);
  }
  const before = new Map(trainable.map(([, t]) => [t, t.toFloat32Array()]));
  for (const [, t] of trainable) t.grad = keep(Tensor.from(new Float32Array(t.numel).fill(0.5), t.shape));
  optimizer.step();
  for (const [name, t] of trainable) {
    const moved = t.toFloat32Array().map((v, i) => (before.get(t)?.[i] as number) - v);
    const expected = lrOf.get(t) as number;
    for (const m of moved) assert.ok(Math.abs(m / expected - 1) < 1e-4, `${name}: moved ${m}, lr ${expected}`);
  }
  optimizer.zeroGrad();
  model.dispose();
});

test('the schedule scales every group by one factor (LambdaLR)', () => {
  const groups = [{ lr: 1e-3 }, { lr: 16e-3 }, { lr: 1e-6 }];
  const initial = groups.map((g) => g.lr);
  applyScheduledLr(groups, initial, 1e-3, 0.25e-3);
  assert.deepEqual(
    groups.map((g) => g.lr),
    [0.25e-3, 16e-3 * 0.25, 1e-6 * 0.25],
  );
});

test('loraplus_lr_ratio needs LoRA, as LLaMA-Factory checks', () => {
  assert.throws(
    () => parseTrainArgs({ model_name_or_path: 'm', output_dir: 'o', finetuning_type: 'full', loraplus_lr_ratio: 16 }),
    /loraplus_lr_ratio/,
  );
});
