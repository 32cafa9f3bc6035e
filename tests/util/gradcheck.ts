/**
 * Finite-difference gradient checks. `fdGradient` differentiates a float64 function numerically (central
 * differences), so a float64 reference backward can be proven to 1e-6; the native f32 backward is then compared to
 * that reference tightly, and can also be checked directly with a coarser step (see checkNativeGradient).
 */
import { axpy_, noGrad, scope, Tensor } from '../../src/engine/index.js';
import { assertClose } from './assert.js';

/** d f / d x[i] for every i, by central differences with step eps. */
export function fdGradient(f: (x: Float64Array) => number, x: Float64Array, eps = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i] as number;
    x[i] = v + eps;
    const up = f(x);
    x[i] = v - eps;
    const down = f(x);
    x[i] = v;
    g[i] = (up - down) / (2 * eps);
  }
  return g;
}

/** Asserts that `analytic` equals the numerical gradient of f at x. */
export function assertGradient(
  f: (x: Float64Array) => number,
  x: Float64Array,
  analytic: ArrayLike<number>,
  { eps = 1e-6, atol = 1e-6, rtol = 1e-5 }: { eps?: number; atol?: number; rtol?: number } = {},
  label = 'gradient',
): void {
  assertClose(analytic, fdGradient(f, Float64Array.from(x), eps), { atol, rtol }, label);
}

/** sum(y * w): turns any output into a scalar whose gradient w.r.t. y is w (a random projection). */
export function dot(y: ArrayLike<number>, w: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += (y[i] as number) * (w[i] as number);
  return s;
}

/**
 * A model-level gradient check along one direction: `exact` = <dloss/dweight, dir> from backward, `numeric` = the
 * central difference of loss(weight + s dir) at s = +-eps (no tape). For losses through a whole model, where a
 * per-element check would cost a forward per weight. Leaves weight.grad cleared.
 */
export function directionalDerivative(
  weight: Tensor,
  loss: () => Tensor,
  direction: (i: number) => number,
  eps = 1e-2,
): { exact: number; numeric: number } {
  const analytic = scope(() => {
    loss().backward();
    return weight.grad?.toFloat32Array() as Float32Array;
  });
  weight.grad?.dispose();
  weight.grad = null;
  const dir = Float32Array.from({ length: weight.numel }, (_, i) => direction(i));
  const at = (s: number) =>
    scope(() => {
      const d = Tensor.from(dir, weight.shape);
      axpy_(s, d, weight);
      const value = noGrad(() => loss().item());
      axpy_(-s, d, weight);
      return value;
    });
  const numeric = (at(eps) - at(-eps)) / (2 * eps);
  const exact = analytic.reduce((acc, g, i) => acc + g * (dir[i] as number), 0);
  return { exact, numeric };
}
