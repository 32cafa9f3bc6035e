/** nn.Embedding: weight [V, C]; ids i32 [...] -> [..., C]. */
import { embedding, type Tensor } from '../engine/index.js';
import { Module } from './module.js';

export class Embedding extends Module {
  constructor(weight: Tensor) {
    super();
    this.registerParameter('weight', weight);
  }

  get weight(): Tensor {
    return this.parameter('weight') as Tensor;
  }

  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids);
  }
}
