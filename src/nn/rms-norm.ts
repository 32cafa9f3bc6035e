/** LlamaRMSNorm: y = w * x / sqrt(mean(x^2) + eps), computed in f32. */
import { rmsNorm, type Tensor } from '../engine/index.js';
import { Module } from './module.js';

export class RMSNorm extends Module {
  constructor(
    weight: Tensor,
    readonly eps: number,
  ) {
    super();
    this.registerParameter('weight', weight);
  }

  get weight(): Tensor {
    return this.parameter('weight') as Tensor;
  }

  /** x [..., C] -> [..., C] */
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}
