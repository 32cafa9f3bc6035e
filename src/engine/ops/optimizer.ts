/**
 * Fused in-place optimizer updates of one parameter (native/src/kernels/optimizer.cc), in torch.optim's f32 order
 * of operations. Never recorded. The stateful optimizers built on these live in src/train/optimizers.ts.
 */
import { native } from '../native.js';
import type { Tensor } from '../tensor.js';
import { expectF32, expectSameShape } from './check.js';

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/**
 * One AdamW step (torch.optim.AdamW, amsgrad = maximize = false) of param p with gradient g, updating the moments
 * m and v in place. `step` is this parameter's step count including this one (1 on the first step).
 */
export function adamwStep_(p: Tensor, g: Tensor, m: Tensor, v: Tensor, h: AdamWHyper, step: number): void {
  for (const [name, t] of [
    ['param', p],
    ['grad', g],
    ['exp_avg', m],
    ['exp_avg_sq', v],
  ] as const) {
    expectF32('adamwStep_', name, t);
    if (t !== p) expectSameShape('adamwStep_', p, t);
  }
  if (!Number.isInteger(step) || step < 1) throw new Error(`adamwStep_: step must be an integer >= 1, got ${step}`);
  native.adamw(p.handle, g.handle, m.handle, v.handle, p.numel, h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, step);
}

export interface SgdHyper {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/**
 * One SGD step (torch.optim.SGD, maximize = false) of param p with gradient g. With momentum, `buf` is the momentum
 * buffer; on the first step (`firstStep`) it is set to the gradient, as torch does, instead of being decayed.
 */
export function sgdStep_(p: Tensor, g: Tensor, buf: Tensor | null, h: SgdHyper, firstStep: boolean): void {
  expectF32('sgdStep_', 'param', p);
  expectF32('sgdStep_', 'grad', g);
  expectSameShape('sgdStep_', p, g);
  if (h.momentum !== 0) {
    if (!buf) throw new Error('sgdStep_: momentum != 0 needs a momentum buffer');
    expectF32('sgdStep_', 'momentum_buffer', buf);
    expectSameShape('sgdStep_', p, buf);
  }
  if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0))
    throw new Error('sgdStep_: nesterov momentum requires momentum > 0 and dampening = 0 (as torch.optim.SGD)');
  native.sgd(
    p.handle,
    g.handle,
    h.momentum !== 0 && buf ? buf.handle : null,
    p.numel,
    h.lr,
    h.momentum,
    h.dampening,
    h.weightDecay,
    h.nesterov,
    firstStep,
  );
}
