/**
 * Pointwise nonlinearities of the preference and RL losses (native/src/kernels/pointwise.cc), forward and backward
 * side by side. Each takes f32 of any shape and returns the same shape; the backward recomputes from the input.
 *
 *   logSigmoid(x) = log(sigmoid(x)), stable for large |x|      sigmoid(x)      relu(x) = max(x, 0)
 *   exp(x)                                                     log1mExp(x) = log(1 - exp(x)), for x < 0
 *   tanh(x) (Gemma 2's logit soft-capping)
 *
 * Values are computed in double per element and rounded once (these act on [B] vectors).
 */
import { record } from '../autograd.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { expectF32 } from './check.js';

const CODES = { logSigmoid: 0, sigmoid: 1, relu: 2, exp: 3, log1mExp: 4, tanh: 5 } as const;
type PointwiseName = keyof typeof CODES;

function pointwise(name: PointwiseName, x: Tensor): Tensor {
  expectF32(name, 'x', x);
  const code = CODES[name];
  const out = Tensor.empty(x.shape);
  native.pointwiseForward(code, x.handle, out.handle, out.numel);
  record(out, name, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    native.pointwiseBackward(code, x.handle, g.handle, dx.handle, dx.numel);
    return [dx];
  });
  return out;
}

/** log(sigmoid(x)) = -log(1 + exp(-x)); d/dx = sigmoid(-x). */
export function logSigmoid(x: Tensor): Tensor {
  return pointwise('logSigmoid', x);
}

/** 1 / (1 + exp(-x)); d/dx = s (1 - s). */
export function sigmoid(x: Tensor): Tensor {
  return pointwise('sigmoid', x);
}

/** max(x, 0); d/dx = 1 where x > 0, else 0 (torch's convention at 0). */
export function relu(x: Tensor): Tensor {
  return pointwise('relu', x);
}

/** exp(x). */
export function exp(x: Tensor): Tensor {
  return pointwise('exp', x);
}

/** log(1 - exp(x)) for x < 0 (ORPO: log(1 - p) from log p); d/dx = -exp(x) / (1 - exp(x)). */
export function log1mExp(x: Tensor): Tensor {
  return pointwise('log1mExp', x);
}

/** tanh(x); d/dx = 1 - tanh(x)^2. */
export function tanh(x: Tensor): Tensor {
  return pointwise('tanh', x);
}
