/**
 * A LoRA-adapted linear layer as one op: y = x W^T + b + s * (xd A^T) B^T, with xd = dropout(x) (or x itself).
 * Shapes: x, xd [M, K] (leading dims folded), W [N, K] (often frozen, f32/bf16/f16), A [r, K], B [N, r], y [M, N].
 * The low-rank path adds into y inside the GEMM (beta = 1), so the only extra activation kept for the backward is
 * u = xd A^T [M, r]: no [M, N] delta, scaled delta or sum is ever materialised.
 * Backward, with v = g B [M, r]:
 *   dx  = g W (+ s v A when xd is x)     dxd = s v A (when xd is a separate dropout output)
 *   dA  = s v^T xd                       dB  = s g^T u
 *   dW  = g^T x  (only when W trains)    db  = column sums of g (only when b trains)
 */
import { record } from '../autograd.js';
import { native } from '../native.js';
import { formatShape, Tensor } from '../tensor.js';
import { expectF32 } from './check.js';
import { gemmInto } from './matmul.js';

export function loraLinear(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  loraA: Tensor,
  loraB: Tensor,
  scaling: number,
  dropped?: Tensor,
): Tensor {
  expectF32('loraLinear', 'x', x);
  expectF32('loraLinear', 'lora_A', loraA);
  expectF32('loraLinear', 'lora_B', loraB);
  const [n, k] = weight.shape as [number, number];
  const r = loraA.shape[0] as number;
  if (x.shape[x.ndim - 1] !== k || loraA.shape[1] !== k || loraB.shape[0] !== n || loraB.shape[1] !== r)
    throw new Error(
      `loraLinear: x ${formatShape(x.shape)}, W ${formatShape(weight.shape)}, A ${formatShape(loraA.shape)}, B ${formatShape(loraB.shape)} do not fit [.., K] [N, K] [r, K] [N, r]`,
    );
  const xd = dropped ?? x;
  if (dropped && dropped.numel !== x.numel) throw new Error('loraLinear: the dropout output must have the shape of x');
  const m = x.numel / k;
  const y = Tensor.empty([...x.shape.slice(0, -1), n]);
  gemmInto(x, weight, y, { m, n, k, transB: true, bias });
  const u = Tensor.empty([m, r]);
  gemmInto(xd, loraA, u, { m, n: r, k, transB: true });
  gemmInto(u, loraB, y, { m, n, k: r, transB: true, alpha: scaling, beta: 1 });
  const inputs = [x, weight, loraA, loraB, ...(bias ? [bias] : []), ...(dropped ? [dropped] : [])];
  record(y, 'loraLinear', inputs, (g, needs) => {
    const [needX, needW, needA, needB] = needs;
    const needBias = bias ? needs[4] : false;
    const needXd = dropped ? needs[inputs.length - 1] : false;
    const v = Tensor.empty([m, r]);
    gemmInto(g, loraB, v, { m, n: r, k: n }); // [M, N] @ [N, r]
    let dx: Tensor | null = null;
    let dxd: Tensor | null = null;
    if (needX) {
      dx = Tensor.empty(x.shape);
      gemmInto(g, weight, dx, { m, n: k, k: n }); // [M, N] @ [N, K]
      if (!dropped) gemmInto(v, loraA, dx, { m, n: k, k: r, alpha: scaling, beta: 1 });
    }
    if (needXd) {
      dxd = Tensor.empty(x.shape);
      gemmInto(v, loraA, dxd, { m, n: k, k: r, alpha: scaling });
    }
    let dw: Tensor | null = null;
    if (needW) {
      dw = Tensor.empty(weight.shape);
      gemmInto(g, x, dw, { m: n, n: k, k: m, transA: true });
    }
    let da: Tensor | null = null;
    if (needA) {
      da = Tensor.empty(loraA.shape);
      gemmInto(v, xd, da, { m: r, n: k, k: m, transA: true, alpha: scaling }); // [r, M] @ [M, K]
    }
    let dbLora: Tensor | null = null;
    if (needB) {
      dbLora = Tensor.empty(loraB.shape);
      gemmInto(g, u, dbLora, { m: n, n: r, k: m, transA: true, alpha: scaling }); // [N, M] @ [M, r]
    }
    let dBias: Tensor | null = null;
    if (needBias && bias) {
      dBias = Tensor.empty([n]);
      native.colsum(g.handle, dBias.handle, m, n);
    }
    v.dispose();
    return [dx, dw, da, dbLora, ...(bias ? [dBias] : []), ...(dropped ? [dxd] : [])];
  });
  return y;
}
