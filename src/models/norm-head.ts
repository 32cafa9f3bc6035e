/**
 * Baichuan 2's NormHead: logits = hidden @ normalize(W)^T, each row of W [V, C] divided by its L2 norm
 * (torch.nn.functional.normalize), in training and in inference alike. The checkpoint stores W itself
 * (`lm_head.weight`). The normalisation is an RMSNorm over each row with weight 1/sqrt(C) and eps 0, which gives
 * w / ||w|| and its exact backward. While W is frozen the normalised copy is computed once and kept (HF's NormHead
 * does the same after its first inference call); a trainable W is normalised on every forward, on the tape.
 * Shapes: C hidden, V vocab.
 */
import { full, keep, linear, noGrad, rmsNorm, type Tensor } from '../engine/index.js';
import { Module } from '../nn/module.js';

export class NormHead extends Module {
  private frozenNormalized: Tensor | null = null;
  /** The weight tensor frozenNormalized was computed from (a dtype cast or a reload swaps the tensor). */
  private normalizedFrom: Tensor | null = null;
  private readonly rowScale: Tensor;

  constructor(weight: Tensor) {
    super();
    this.registerParameter('weight', weight);
    const c = weight.shape[1] as number;
    this.rowScale = keep(full([c], 1 / Math.sqrt(c)));
  }

  get weight(): Tensor {
    return this.parameter('weight') as Tensor;
  }

  /** normalize(W) [V, C] f32 */
  normalizedWeight(): Tensor {
    const w = this.weight;
    const normalize = () => rmsNorm(w.dtype === 'f32' ? w : w.to('f32'), this.rowScale, 0);
    if (w.requiresGrad) {
      this.frozenNormalized?.dispose();
      this.frozenNormalized = null;
      return normalize();
    }
    if (!this.frozenNormalized || this.normalizedFrom !== w) {
      this.frozenNormalized?.dispose();
      this.frozenNormalized = keep(noGrad(normalize));
      this.normalizedFrom = w;
    }
    return this.frozenNormalized;
  }

  /** x [..., C] -> logits [..., V] */
  forward(x: Tensor): Tensor {
    return linear(x, this.normalizedWeight());
  }

  protected override releaseBuffers(): void {
    this.frozenNormalized?.dispose();
    this.rowScale.dispose();
  }
}
