/**
 * Forward-only layers of the BERT-family encoders (native/src/kernels/encoder.cc): lmforge runs sentence encoders
 * and rerankers frozen, so these record no backward and refuse inputs that want a gradient.
 *
 *   layerNorm(x [..., C], w [C], b [C], eps)   nn.LayerNorm (biased variance, eps inside the sqrt)
 *   geluErf(x)                                  0.5 x (1 + erf(x / sqrt 2)), HF's "gelu"
 *   maskedMeanPool(x [B, T, C], mask i32 [B, T]) -> [B, C], the mean over tokens whose mask is 1
 *   l2NormalizeRows(x [..., C])                 x / max(||x||, 1e-12) per row
 */
import { native } from '../native.js';
import { formatShape, Tensor } from '../tensor.js';
import { expectF32, expectRank } from './check.js';

function forwardOnly(op: string, inputs: readonly Tensor[]): void {
  for (const t of inputs) {
    expectF32(op, 'input', t);
    if (t.requiresGrad) throw new Error(`${op}: forward-only (frozen encoders); an input requires a gradient`);
  }
}

export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
  forwardOnly('layerNorm', [x, weight, bias]);
  const c = x.shape[x.ndim - 1] ?? 0;
  if (weight.numel !== c || bias.numel !== c)
    throw new Error(`layerNorm: weight and bias must have ${c} values for x ${formatShape(x.shape)}`);
  const out = Tensor.empty(x.shape);
  native.layerNormForward(x.handle, weight.handle, bias.handle, out.handle, x.numel / c, c, eps);
  return out;
}

function pointwise(op: string, code: number, x: Tensor): Tensor {
  forwardOnly(op, [x]);
  const out = Tensor.empty(x.shape);
  native.encoderPointwise(code, x.handle, out.handle, x.numel);
  return out;
}

export function geluErf(x: Tensor): Tensor {
  return pointwise('geluErf', 0, x);
}

export function maskedMeanPool(x: Tensor, mask: Tensor): Tensor {
  forwardOnly('maskedMeanPool', [x]);
  expectRank('maskedMeanPool', 'x [B, T, C]', x, 3);
  const [b, t, c] = x.shape as [number, number, number];
  if (mask.dtype !== 'i32' || mask.ndim !== 2 || mask.shape[0] !== b || mask.shape[1] !== t)
    throw new Error(`maskedMeanPool: mask must be i32 [${b}, ${t}], got ${mask}`);
  const out = Tensor.empty([b, c]);
  native.maskedMeanPool(x.handle, mask.handle, out.handle, b, t, c);
  return out;
}

export function l2NormalizeRows(x: Tensor): Tensor {
  forwardOnly('l2NormalizeRows', [x]);
  const c = x.shape[x.ndim - 1] ?? 0;
  const out = Tensor.empty(x.shape);
  native.l2NormalizeRows(x.handle, out.handle, c === 0 ? 0 : x.numel / c, c);
  return out;
}
