/**
 * GaLore's defining properties: the projector is the gradient's leading singular basis; with full rank, scale 1 and
 * a gradient whose singular basis is the standard one, GaLoreAdamW steps exactly as AdamW; a low-rank update lies in
 * the projector's span; the projector refreshes every galore_update_interval steps; the optimizer state is
 * rank-sized and survives a state-dict round trip.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Generator, keep, matmul, normal_, scope, Tensor } from '../../src/engine/index.js';
import { jacobiEigen } from '../../src/models/pissa.js';
import { GaLoreAdamW, leadingSingularVectors } from '../../src/train/galore.js';
import { AdamW } from '../../src/train/optimizers.js';
import { assertClose } from '../util/assert.js';
import { trainFullSft } from '../util/tiny-sft.js';

function randomMatrix(rows: number, cols: number, seed: number): Tensor {
  return keep(normal_(Tensor.empty([rows, cols]), new Generator(seed), 0, 1));
}

test('leadingSingularVectors gives the top-r singular basis (left, and right through the transpose)', () => {
  const a = randomMatrix(12, 5, 1);
  const values = Float64Array.from(a.toFloat32Array());
  for (const transposed of [false, true]) {
    const rows = transposed ? 5 : 12;
    // reference: eigenvectors of M Mᵀ in float64
    const gram = new Float64Array(rows * rows);
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < rows; j++) {
        let s = 0;
        if (!transposed) for (let k = 0; k < 5; k++) s += (values[i * 5 + k] as number) * (values[j * 5 + k] as number);
        else for (let k = 0; k < 12; k++) s += (values[k * 5 + i] as number) * (values[k * 5 + j] as number);
        gram[i * rows + j] = s;
      }
    const { vectors } = jacobiEigen(gram);
    const u = leadingSingularVectors(a, 3, transposed, new Generator(2)).toFloat32Array();
    for (let c = 0; c < 3; c++) {
      let dot = 0;
      let norm = 0;
      for (let i = 0; i < rows; i++) {
        dot += (u[i * 3 + c] as number) * (vectors[i * rows + c] as number);
        norm += (u[i * 3 + c] as number) ** 2;
      }
      assertClose([Math.abs(dot), norm], [1, 1], { atol: 1e-4 }, `column ${c}${transposed ? ' (transposed)' : ''}`);
    }
  }
  a.dispose();
});

test('full rank, scale 1, a fixed projector from a gradient with the standard singular basis: GaLoreAdamW steps as AdamW', () => {
  const init = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 1));
  const w1 = keep(Tensor.from(init, [4, 3]));
  const w2 = keep(Tensor.from(init, [4, 3]));
  w1.requiresGrad = true;
  w2.requiresGrad = true;
  const galore = new GaLoreAdamW(
    [{ params: [w1] }],
    new Set([w1]),
    { rank: 3, updateInterval: 100, scale: 1 },
    {
      lr: 0.01,
      weightDecay: 0,
    },
  );
  const adam = new AdamW([w2], { lr: 0.01, weightDecay: 0 });
  for (let step = 0; step < 4; step++) {
    // diagonal gradient [4, 3] with distinct, descending magnitudes and mixed signs: its right singular vectors are ±e_i
    const g = new Float32Array(12);
    g[0] = 3 + step;
    g[4] = -(2 + 0.5 * step);
    g[8] = 1 - 0.1 * step;
    w1.grad = keep(Tensor.from(g, [4, 3]));
    w2.grad = keep(Tensor.from(g, [4, 3]));
    galore.step();
    adam.step();
    galore.zeroGrad();
    adam.zeroGrad();
    assertClose(w1.toFloat32Array(), w2.toFloat32Array(), { atol: 1e-6, rtol: 1e-5 }, `step ${step}`);
  }
  galore.dispose();
  adam.dispose();
  w1.dispose();
  w2.dispose();
});

for (const [rows, cols] of [
  [16, 8],
  [6, 10],
] as const)
  test(`GaLore on a [${rows}, ${cols}] weight: rank-sized state, updates in the projector's span, refresh every interval, state round trip`, () => {
    const r = 2;
    const right = rows >= cols;
    const w = randomMatrix(rows, cols, 3);
    w.requiresGrad = true;
    const make = () =>
      new GaLoreAdamW(
        [{ params: [w] }],
        new Set([w]),
        { rank: r, updateInterval: 2, scale: 0.5 },
        { weightDecay: 0, lr: 0.1 },
      );
    const opt = make();
    const projectors: Float32Array[] = [];
    let before = w.toFloat32Array();
    for (let step = 0; step < 3; step++) {
      w.grad = randomMatrix(rows, cols, 10 + step);
      opt.step();
      opt.zeroGrad();
      const sd = opt.stateDict();
      const buffers = sd.state[0]?.buffers;
      assert.ok(buffers);
      assert.equal(buffers.expAvg?.length, right ? rows * r : r * cols, 'moments are rank-sized');
      assert.equal(buffers.expAvgSq?.length, right ? rows * r : r * cols);
      const p = buffers.projector as Float32Array;
      assert.equal(p.length, right ? r * cols : rows * r);
      projectors.push(p);
      // the update ΔW lies in the span: right ΔW (I - PᵀP) = 0, left (I - PPᵀ) ΔW = 0
      const after = w.toFloat32Array();
      const delta = after.map((x, i) => x - (before[i] as number));
      scope(() => {
        const d = Tensor.from(delta, [rows, cols]);
        const proj = Tensor.from(p, right ? [r, cols] : [rows, r]);
        const inSpan = right
          ? matmul(matmul(d, proj, { transB: true }), proj)
          : matmul(proj, matmul(proj, d, { transA: true }));
        assertClose(inSpan.toFloat32Array(), delta, { atol: 1e-5 }, `step ${step} update in span`);
      });
      before = after;
    }
    assert.deepEqual(projectors[1], projectors[0], 'no refresh within the interval');
    assert.notDeepEqual(projectors[2], projectors[1], 'refreshed at step 2');
    // an optimizer restored from the state dict (over a copy of the weight) continues exactly as the original
    const copy = keep(Tensor.from(w.toFloat32Array(), w.shape));
    copy.requiresGrad = true;
    const restored = new GaLoreAdamW(
      [{ params: [copy] }],
      new Set([copy]),
      { rank: r, updateInterval: 2, scale: 0.5 },
      {
        weightDecay: 0,
        lr: 0.1,
      },
    );
    restored.loadStateDict(opt.stateDict());
    const g = randomMatrix(rows, cols, 99);
    w.grad = keep(Tensor.from(g.toFloat32Array(), g.shape));
    copy.grad = keep(Tensor.from(g.toFloat32Array(), g.shape));
    opt.step();
    restored.step();
    assert.deepEqual(copy.toFloat32Array(), w.toFloat32Array());
    opt.zeroGrad();
    restored.zeroGrad();
    for (const t of [g, copy, w]) t.dispose();
    opt.dispose();
    restored.dispose();
  });

test('use_galore end to end: a full SFT run steps its linear weights through GaLore and the loss falls', async () => {
  const { losses, lines } = await trainFullSft({
    use_galore: true,
    galore_rank: 4,
    galore_update_interval: 3,
    galore_scale: 1,
  });
  assert.ok((losses.at(-1) as number) < (losses[0] as number), `loss fell: ${losses.join(' -> ')}`);
  // 2 layers x 7 projections (embeddings, norms and the head step unprojected)
  assert.ok(lines.includes('GaLore: 14 weights projected to rank 4, refreshed every 3 steps'), lines.join('\n'));
});
