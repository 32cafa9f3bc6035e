/**
 * PPO rollouts through the serving scheduler (a Llama has paged attention): greedy responses equal the old path
 * (generate() per mini-batch, cut by trimResponse) with a trained-looking LoRA adapter live, follow the adapter's
 * weights as they are at each call, leave no tensor behind (no tape), and sampled responses draw with seed + query
 * index whatever the mini-batch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { liveBytes, Tensor } from '../../src/engine/index.js';
import { loadModel } from '../../src/models/causal-lm.js';
import { copyInto } from '../../src/models/parameters.js';
import { generateResponses, type RolloutOptions, trimResponse } from '../../src/train/ppo-rollout.js';
import { predictGeneration } from '../../src/train/predict-generation.js';
import { Rng } from '../util/random.js';
import { tinyMistralDir } from '../util/tiny-model.js';

const GREEDY = { doSample: false, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };
const dir = tinyMistralDir(21, { std: 0.5, maxPositionEmbeddings: 128 });

function queries(count: number, seed: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => Array.from({ length: 3 + rng.int(14) }, () => 3 + rng.int(300)));
}

/** Moves every trainable LoRA factor by a deterministic pattern (B starts at zero: the adapter would do nothing). */
function nudgeAdapter(model: Awaited<ReturnType<typeof loadModel>>, phase: number): void {
  for (const [, t] of model.trainableParameters()) {
    const moved = Float32Array.from(t.toFloat32Array(), (x, i) => x + 0.3 * Math.sin(i * 1.3 + phase + t.numel));
    const source = Tensor.from(moved, t.shape);
    copyInto(source, t);
    source.dispose();
  }
}

/** The rollout before the scheduler: generate() over each left-padded mini-batch, cut as get_inputs does. */
function oldRollout(
  model: Awaited<ReturnType<typeof loadModel>>,
  qs: readonly number[][],
  o: RolloutOptions,
): number[][] {
  const out: number[][] = [];
  for (let k = 0; k * o.miniBatch < qs.length; k++) {
    const { tokens } = model.generateDetailed(qs.slice(k * o.miniBatch, (k + 1) * o.miniBatch), {
      maxNewTokens: o.maxNewTokens[k] as number,
      ...o.sampling,
      stop: o.stop,
      padTokenId: o.padId,
      seed: (o.seed + k * o.miniBatch) >>> 0,
    });
    for (const t of tokens) out.push(trimResponse(t, o.padId, o.eosId));
  }
  return out;
}

test('greedy rollouts through the scheduler equal generate() per mini-batch, with the LoRA weights of each call', async () => {
  const model = await loadModel(dir);
  try {
    model.addLora({ r: 4, targetModules: 'all', seed: 3 });
    model.train();
    nudgeAdapter(model, 0);
    const qs = queries(7, 5);
    // Stop on a few ids the random model does emit, so some rows end early and others run to their limit.
    const o: RolloutOptions = {
      maxNewTokens: [9, 5, 12],
      sampling: GREEDY,
      stop: [2, 27288, 25729],
      padId: 2,
      eosId: 2,
      miniBatch: 3,
      seed: 11,
    };
    const probe = predictGeneration(model, qs, { ...o, padTokenId: o.padId, batchSize: o.miniBatch });
    assert.equal(probe.scheduled, true, 'a Llama decodes through the scheduler');
    await probe.close();

    const before = liveBytes();
    const scheduled = await generateResponses(model, qs, o);
    assert.equal(liveBytes(), before, 'the rollout left no tensor (no KV pool, no autograd graph) behind');
    assert.equal(model.module.training, true, 'the policy is back in train mode');
    assert.equal(scheduled.length, qs.length);
    assert.deepEqual(scheduled, oldRollout(model, qs, o));
    assert.ok(
      scheduled.some((r, i) => r.length < (o.maxNewTokens[Math.floor(i / 3)] as number)),
      `some response stopped early: ${JSON.stringify(scheduled)}`,
    );
    const base = model.withAdapterDisabled(() => oldRollout(model, qs, o));
    assert.notDeepEqual(scheduled, base, 'the adapter changes the responses (so the comparison covers it)');

    // An optimizer step later: the next rollout decodes with the new weights.
    nudgeAdapter(model, 2);
    const next = await generateResponses(model, qs, o);
    assert.deepEqual(next, oldRollout(model, qs, o));
    assert.notDeepEqual(next, scheduled, 'the moved adapter answers differently');
  } finally {
    model.dispose();
  }
});

test('sampled rollouts through the scheduler: query i draws with seed + i, whatever its mini-batch', async () => {
  const model = await loadModel(dir);
  try {
    const qs = queries(5, 8);
    const sampling = { doSample: true, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };
    const o: RolloutOptions = {
      maxNewTokens: [8, 8, 8],
      sampling,
      stop: [],
      padId: 2,
      eosId: 2,
      miniBatch: 2,
      seed: 40,
    };
    const batched = await generateResponses(model, qs, o);
    assert.deepEqual(await generateResponses(model, qs, o), batched, 'reproducible');
    for (const [i, q] of qs.entries()) {
      const [alone] = await generateResponses(model, [q], { ...o, maxNewTokens: [8], miniBatch: 1, seed: 40 + i });
      assert.deepEqual(alone, batched[i], `query ${i}`);
    }
    const greedy = await generateResponses(model, qs, { ...o, sampling: GREEDY });
    assert.notDeepEqual(batched, greedy, 'sampling changed the responses');
  } finally {
    model.dispose();
  }
});
