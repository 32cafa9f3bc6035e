/**
 * Activation (gradient) checkpointing: run fn without keeping its intermediates, and recompute them during the
 * backward. A decoder layer then keeps only its input alive between forward and backward.
 * `params` are the trainable tensors fn reads: the recompute's own backward accumulates their gradients, and listing
 * them makes the node recorded even when x itself needs no gradient (LoRA on a frozen embedding).
 * `rng` (when fn draws random numbers, e.g. dropout) is rewound so the recompute sees the same masks.
 */
import { isGradEnabled, noGrad, record, withGrad } from './autograd.js';
import type { Generator } from './random.js';
import { scope } from './scope.js';
import type { Tensor } from './tensor.js';

export function checkpoint(fn: (x: Tensor) => Tensor, x: Tensor, params: readonly Tensor[], rng?: Generator): Tensor {
  const trainable = params.filter((p) => p.requiresGrad);
  if (!isGradEnabled() || (!x.requiresGrad && trainable.length === 0)) return fn(x);
  const before = rng?.state();
  const out = noGrad(() => scope(() => fn(x)));
  const after = rng?.state();
  record(out, 'checkpoint', [x, ...trainable], (g, needs) =>
    withGrad(() =>
      scope(() => {
        if (rng && before) rng.setState(before);
        const xr = x.detach();
        xr.requiresGrad = needs[0] === true;
        fn(xr).backward(g); // parameter gradients accumulate straight into their .grad
        if (rng && after) rng.setState(after);
        const dx = xr.grad;
        xr.grad = null;
        return [dx, ...trainable.map(() => null)];
      }),
    ),
  );
  return out;
}
