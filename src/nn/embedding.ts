/** nn.Embedding: weight [V, C]; ids i32 [...] -> [..., C]. */
import { embedding, type Tensor } from '../engine/index.js';
import { Module } from './module.js';

export class Embedding extends Module {
  /** paddingIdx: the row that never receives a gradient (HF builds nn.Embedding with padding_idx = pad_token_id). */
  constructor(
    weight: Tensor,
    readonly paddingIdx: number | null = null,
  ) {
    super();
    this.registerParameter('weight', weight);
  }

  get weight(): Tensor {
    return this.parameter('weight') as Tensor;
  }

  replaceWeight(w: Tensor): void {
    this.registerParameter('weight', w);
  }

  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids, this.paddingIdx === null ? {} : { paddingIdx: this.paddingIdx });
  }
}
