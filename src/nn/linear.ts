/** nn.Linear in HF layout: weight [out, in] (f32 when trained; bf16/f16 when frozen), optional bias [out]. */
import { keep, linear, Tensor } from '../engine/index.js';
import { Module } from './module.js';

export class Linear extends Module {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    weight?: Tensor,
    bias?: Tensor | null,
  ) {
    super();
    this.registerParameter('weight', weight ?? keep(Tensor.zeros([outFeatures, inFeatures])));
    if (bias) this.registerParameter('bias', bias);
  }

  get weight(): Tensor {
    return this.parameter('weight') as Tensor;
  }

  get bias(): Tensor | undefined {
    return this.parameter('bias');
  }

  /** Swaps the weight tensor (merging an adapter, changing its dtype). */
  replaceWeight(w: Tensor): void {
    if (w.shape[0] !== this.outFeatures || w.shape[1] !== this.inFeatures)
      throw new Error(`weight must be [${this.outFeatures}, ${this.inFeatures}], got [${w.shape.join(', ')}]`);
    this.registerParameter('weight', w);
  }

  /** x [..., in] -> [..., out] */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}
