/**
 * NEFTune (neftune_noise_alpha): while training, the embeddings [B, L, C] get uniform noise in ±alpha/sqrt(L*C), as
 * HF's neftune_post_forward_hook adds it; in eval mode (evaluation, generation) they are the plain embeddings.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scope, Tensor } from '../../src/engine/index.js';
import { parseTrainArgs } from '../../src/hparams/index.js';
import { createModel } from '../../src/models/causal-lm.js';
import { tinyLlamaConfig } from '../util/tiny-config.js';

test('NEFTune: uniform noise of magnitude alpha/sqrt(L*d) in training only', () => {
  const model = createModel(tinyLlamaConfig(), { seed: 3 });
  const emb = model.module.model.embedTokens;
  const [B, L, d] = [4, 8, 16];
  const ids = Tensor.from(
    Array.from({ length: B * L }, (_, i) => (i * 7) % 64),
    [B, L],
    'i32',
  );
  const alpha = 5;
  const mag = alpha / Math.sqrt(L * d);
  const plain = scope(() => emb.forward(ids).toFloat32Array());
  model.setNeftune(alpha);
  model.train();
  const noisy = scope(() => emb.forward(ids).toFloat32Array());
  const again = scope(() => emb.forward(ids).toFloat32Array());
  const noise = noisy.map((v, i) => v - (plain[i] as number));
  const n = noise.length;
  const maxAbs = Math.max(...noise.map(Math.abs));
  const mean = noise.reduce((s, v) => s + v, 0) / n;
  const variance = noise.reduce((s, v) => s + v * v, 0) / n;
  assert.ok(maxAbs <= mag * (1 + 1e-5), `|noise| ${maxAbs} <= ${mag}`);
  assert.ok(maxAbs > mag * 0.95, `the noise fills the interval: max ${maxAbs} of ${mag}`);
  assert.ok(Math.abs(mean) < mag * 0.1, `mean ${mean}`);
  // U(-m, m) has variance m^2 / 3
  assert.ok(Math.abs(variance / ((mag * mag) / 3) - 1) < 0.15, `variance ${variance} vs ${(mag * mag) / 3}`);
  assert.notDeepEqual(again, noisy, 'each forward draws new noise');

  model.eval();
  assert.deepEqual(
    scope(() => emb.forward(ids).toFloat32Array()),
    plain,
    'no noise in eval mode',
  );
  model.setNeftune(null);
  model.train();
  assert.deepEqual(
    scope(() => emb.forward(ids).toFloat32Array()),
    plain,
    'off when alpha is null',
  );
  ids.dispose();
  model.dispose();
});

test('neftune_noise_alpha is accepted', () => {
  const a = parseTrainArgs({ model_name_or_path: 'm', output_dir: 'o', dataset: 'd', neftune_noise_alpha: 5 });
  assert.equal(a.training.neftune_noise_alpha, 5);
});
