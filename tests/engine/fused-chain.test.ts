import { test } from 'node:test';
import { embedding, meanAll, rmsNorm, rope, ropeInvFreq, scope, swiglu, Tensor } from '../../src/engine/index.js';
import { swigluRef } from '../../src/engine/reference/activation.js';
import { embeddingRef } from '../../src/engine/reference/embedding.js';
import { rmsNormRef } from '../../src/engine/reference/norm.js';
import { meanAllRef } from '../../src/engine/reference/reduce.js';
import { ropeRef } from '../../src/engine/reference/rope.js';
import { assertClose } from '../util/assert.js';
import { fdGradient } from '../util/gradcheck.js';
import { Rng } from '../util/random.js';

// The ops chained the way the model calls them: the gradients that reach the embedding table and the norm weight
// through rope, swiglu and the mean agree with finite differences of the float64 references chained the same way.
test('embedding -> rmsNorm -> rope -> swiglu -> meanAll: autograd matches the float64 chain', () => {
  const [V, B, T, H, D] = [11, 2, 3, 2, 4];
  const C = H * D;
  const eps = 1e-5;
  const rng = new Rng(61);
  const table = rng.floats(V * C);
  const normW = rng.floats(C, 0.5, 1.5);
  const ids = Int32Array.from({ length: B * T }, () => rng.int(V));
  const pos = Int32Array.from([0, 1, 2, 4, 5, 6]);
  const freqs = ropeInvFreq({ theta: 10000 }, D);

  const refLoss = (tab: Float64Array, w: Float64Array) => {
    const h = embeddingRef(tab, ids, C);
    const n = rmsNormRef(h, w, eps);
    const q = ropeRef(n, pos, freqs.invFreq, H, D);
    return meanAllRef(swigluRef(q, n));
  };

  scope(() => {
    const tTable = Tensor.from(table.f32, [V, C]).requiresGrad_();
    const tW = Tensor.from(normW.f32, [C]).requiresGrad_();
    const h = embedding(tTable, Tensor.from(ids, [B, T], 'i32'));
    const n = rmsNorm(h, tW, eps);
    const q = rope(n.reshape([B, T, H, D]), Tensor.from(pos, [B, T], 'i32'), freqs);
    const loss = meanAll(swiglu(q.reshape([B, T, C]), n));
    assertClose([loss.item()], [refLoss(table.f64, normW.f64)], { atol: 1e-7, rtol: 1e-6 }, 'loss');
    loss.backward();
    const dTable = fdGradient((v) => refLoss(v, normW.f64), Float64Array.from(table.f64));
    const dW = fdGradient((v) => refLoss(table.f64, v), Float64Array.from(normW.f64));
    assertClose(tTable.grad?.toFloat32Array() ?? [], dTable, { atol: 1e-7, rtol: 1e-4 }, 'd embedding table');
    assertClose(tW.grad?.toFloat32Array() ?? [], dW, { atol: 1e-7, rtol: 1e-4 }, 'd norm weight');
    tTable.grad?.dispose();
    tW.grad?.dispose();
  });
});
