/**
 * y = x W^T + b with W a frozen quantized matrix (NF4 / FP4 / int8, or ggml blocks from a GGUF base), forward and
 * backward side by side.
 * Shapes: x [..., K] (leading dims folded to M), W [N, K], b [N], y [..., N].
 * The kernels read the quantized bytes (few rows stream them; more rows decode a tile at a time into the GEMM), so no
 * f32 copy of W exists; under bf16 matmul precision NF4/FP4/int8 tiles are multiplied in bf16, as bitsandbytes
 * dequantizes to the compute dtype. W is frozen, so the backward has no weight gradient:
 *   dx = g W        db = column sums of g (when b trains)
 */
import { record } from '../autograd.js';
import { native } from '../native.js';
import type { QuantizedMatrix } from '../quant/quantized-matrix.js';
import { formatShape, Tensor } from '../tensor.js';
import { expectF32 } from './check.js';
import { getMatmulPrecision } from './matmul.js';

export function quantizedLinear(x: Tensor, weight: QuantizedMatrix, bias?: Tensor): Tensor {
  expectF32('quantizedLinear', 'x', x);
  const { rows: n, cols: k } = weight;
  if (x.shape[x.ndim - 1] !== k)
    throw new Error(`quantizedLinear: x ${formatShape(x.shape)} does not end in K = ${k} (W is [${n}, ${k}])`);
  if (bias) {
    expectF32('quantizedLinear', 'bias', bias);
    if (bias.numel !== n) throw new Error(`quantizedLinear: bias has ${bias.numel} values, expected N = ${n}`);
  }
  const m = x.numel / k;
  const y = Tensor.empty([...x.shape.slice(0, -1), n]);
  // bf16 precision reaches the bitsandbytes formats' tile GEMM; the ggml kernels take no such argument.
  const bf16 = getMatmulPrecision() === 'bf16';
  const forward = weight.ggml ? native.ggmlLinear : native.quantLinear;
  const backwardInput = weight.ggml ? native.ggmlLinearBackwardInput : native.quantLinearBackwardInput;
  forward(weight.descriptor(), x.handle, m, bias?.handle ?? null, y.handle, bf16);
  record(y, 'quantizedLinear', bias ? [x, bias] : [x], (g, needs) => {
    let dx: Tensor | null = null;
    if (needs[0]) {
      dx = Tensor.empty(x.shape);
      backwardInput(weight.descriptor(), g.handle, m, dx.handle, bf16); // [M, N] @ [N, K]
    }
    let db: Tensor | null = null;
    if (bias && needs[1]) {
      db = Tensor.empty([n]);
      native.colsum(g.handle, db.handle, m, n);
    }
    return bias ? [dx, db] : [dx];
  });
  return y;
}
