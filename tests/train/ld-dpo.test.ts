/**
 * LD-DPO (ld_alpha): the token weights on hand-made rows, the weighted sequence log-probs of a tiny model against a
 * float64 reference written the way LLaMA-Factory's get_batch_logps states it (masks over positions), and the
 * gradient of the DPO loss on the weighted log-probs through the model by finite differences.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collatePairwise } from '../../src/data/collator.js';
import { noGrad, scope, sumAll, type Tensor, takeRows } from '../../src/engine/index.js';
import { tokenLogProbsRef } from '../../src/engine/reference/cross-entropy.js';
import { parseModelConfig } from '../../src/io/model-config.js';
import { type CausalLM, createModel } from '../../src/models/causal-lm.js';
import { ldDpoTokenWeights, referenceLogProbs, sequenceLogProbs, type TokenRows } from '../../src/train/dpo.js';
import { preferenceLosses } from '../../src/train/preference-loss.js';
import { assertClose } from '../util/assert.js';
import { directionalDerivative } from '../util/gradcheck.js';

const X = -100;

function labelRows(rows: number[][]): TokenRows['labels'] {
  const t = (rows[0] as number[]).length;
  return { data: Int32Array.from(rows.flat()), shape: [rows.length, t] };
}

test('ldDpoTokenWeights: 1 up to the shorter reply, alpha beyond it, 0 off the response (shifted by one)', () => {
  const a = 0.25;
  // pair 0: chosen reply 4 tokens, rejected 2; pair 1: chosen 3, rejected 5 (prompts of 3 and 2 tokens)
  const labels = labelRows([
    [X, X, X, 11, 12, 13, 14, X],
    [X, X, 15, 16, 17, X, X, X],
    [X, X, X, 21, 22, X, X, X],
    [X, X, 23, 24, 25, 26, 27, X],
  ]);
  const expected = [
    [0, 0, 1, 1, a, a, 0, 0],
    [0, 1, 1, 1, 0, 0, 0, 0],
    [0, 0, 1, 1, 0, 0, 0, 0],
    [0, 1, 1, 1, a, a, 0, 0],
  ].flat();
  assert.deepEqual([...ldDpoTokenWeights(labels, a)], expected);
  // a pair whose rejected reply is empty keeps nothing of the chosen one at full weight
  const empty = labelRows([
    [X, 5, 6, X],
    [X, X, X, X],
  ]);
  assert.deepEqual([...ldDpoTokenWeights(empty, a)], [a, a, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => ldDpoTokenWeights(labelRows([[X, 1]]), a), /row pairs/);
});

/** LLaMA-Factory's formulation in float64: masks over positions, public length = first response position + min. */
function ldReferenceLogps(logits: Float64Array, labels: TokenRows['labels'], v: number, alpha: number): number[] {
  const [r, t] = labels.shape;
  const shifted = Array.from({ length: r }, (_, i) =>
    Array.from({ length: t - 1 }, (_, p) => labels.data[i * t + p + 1] as number),
  );
  const perToken = shifted.map((row, i) => {
    const rowLogits = logits.subarray(i * t * v, (i * t + t - 1) * v);
    return tokenLogProbsRef(Float64Array.from(rowLogits), row, v);
  });
  const mask = shifted.map((row) => row.map((y): number => (y !== X ? 1 : 0)));
  const valid = mask.map((m) => m.reduce((x, y) => x + y, 0));
  const half = r / 2;
  return perToken.map((lp, i) => {
    const pair = i % half;
    const minLen = Math.min(valid[pair] as number, valid[pair + half] as number);
    const m = mask[i] as number[];
    const start = Math.max(0, m.indexOf(1));
    let front = 0;
    let rear = 0;
    for (let p = 0; p < t - 1; p++) {
      if (p < start + minLen) front += (lp[p] as number) * (m[p] as number);
      else rear += (lp[p] as number) * (m[p] as number);
    }
    return front + alpha * rear;
  });
}

function tinyModel(seed: number): CausalLM {
  const cfg = parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 24,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    max_position_embeddings: 32,
  });
  return createModel(cfg, { seed, std: 0.3 });
}

function pairRecord(prompt: number[], chosen: number[], rejected: number[]) {
  const row = (reply: number[]) => ({ ids: [...prompt, ...reply], labels: [...prompt.map(() => X), ...reply] });
  const c = row(chosen);
  const r = row(rejected);
  return {
    chosen_input_ids: c.ids,
    chosen_attention_mask: c.ids.map(() => 1),
    chosen_labels: c.labels,
    rejected_input_ids: r.ids,
    rejected_attention_mask: r.ids.map(() => 1),
    rejected_labels: r.labels,
  };
}

const batch = collatePairwise(
  [pairRecord([3, 4, 5], [6, 7, 8, 9, 10], [11, 12]), pairRecord([13, 14], [15, 16], [17, 18, 19, 20])],
  { padTokenId: 0 },
);

test('sequenceLogProbs with ld_alpha equals the float64 reference; alpha 1 is the plain sum', () => {
  const model = tinyModel(3);
  const v = model.config.vocabSize;
  scope(() =>
    noGrad(() => {
      const logits = Float64Array.from(model.forward(batch).logits.toFloat32Array());
      for (const alpha of [0, 0.3, 1]) {
        const expected = ldReferenceLogps(logits, batch.labels, v, alpha);
        const summed = sequenceLogProbs(model, batch, false, alpha);
        assertClose(summed.logps.toFloat32Array(), expected, { atol: 2e-5, rtol: 1e-5 }, `sum, alpha ${alpha}`);
        const averaged = sequenceLogProbs(model, batch, true, alpha);
        const lengths = [5, 2, 2, 4];
        assertClose(
          averaged.logps.toFloat32Array(),
          expected.map((x, i) => x / (lengths[i] as number)),
          { atol: 2e-5, rtol: 1e-5 },
          `average, alpha ${alpha}`,
        );
      }
      const plain = sequenceLogProbs(model, batch, false).logps.toFloat32Array();
      assertClose(sequenceLogProbs(model, batch, false, 1).logps.toFloat32Array(), plain, { atol: 1e-6 }, 'alpha 1');
      // alpha < 1 raises the longer reply's (negative) log-prob and leaves the shorter one's
      const ld = sequenceLogProbs(model, batch, false, 0.5).logps.toFloat32Array();
      assert.ok((ld[0] as number) > (plain[0] as number) && (ld[3] as number) > (plain[3] as number));
      assert.equal(ld[1], plain[1]);
      assert.equal(ld[2], plain[2]);
    }),
  );
  model.dispose();
});

test('DPO on LD-weighted policy log-probs: the gradient through the model matches finite differences', () => {
  const policy = tinyModel(1);
  policy.setFullTraining();
  const reference = tinyModel(2);
  reference.freezeAll();
  const ref = { kind: 'model' as const, model: reference };
  const loss = () => {
    const lp = sequenceLogProbs(policy, batch, false, 0.4).logps;
    const r = referenceLogProbs(policy, ref, batch, false);
    const losses = preferenceLosses(
      { type: 'sigmoid', beta: 0.5, labelSmoothing: 0, simpoGamma: 0 },
      { chosen: takeRows(lp, [0, 1]), rejected: takeRows(lp, [2, 3]) },
      { chosen: takeRows(r, [0, 1]), rejected: takeRows(r, [2, 3]) },
    );
    return sumAll(losses);
  };
  const weight = policy.namedParameters().find(([n]) => n === 'lm_head.weight')?.[1] as Tensor;
  const { exact, numeric } = directionalDerivative(weight, loss, (i) => Math.sin(i * 1.3 + 0.7));
  assert.ok(Math.abs(exact) > 1e-3, `the check needs a non-trivial derivative, got ${exact}`);
  assert.ok(Math.abs(numeric - exact) <= 2e-3 * Math.max(1, Math.abs(exact)), `${exact} vs ${numeric}`);
  policy.dispose();
  reference.dispose();
});
