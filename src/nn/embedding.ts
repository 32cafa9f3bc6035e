/** nn.Embedding: weight [V, C]; ids i32 [...] -> [..., C]. */
import { add, embedding, type Tensor, uniform } from '../engine/index.js';
import type { Generator } from '../engine/random.js';
import { Module } from './module.js';

/** NEFTune's settings: noise_alpha and the stream the noise draws from. */
export interface Neftune {
  alpha: number;
  rng: Generator;
}

export class Embedding extends Module {
  /**
   * NEFTune (HF's neftune_post_forward_hook): while training, the output [B, L, C] gets uniform noise in
   * ±alpha / sqrt(L * C); evaluation and generation see the plain embeddings. Null: off.
   */
  neftune: Neftune | null = null;

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
    const out = embedding(this.weight, ids, this.paddingIdx === null ? {} : { paddingIdx: this.paddingIdx });
    if (this.neftune === null || !this.training || out.ndim < 3) return out;
    const [length, width] = out.shape.slice(-2) as [number, number];
    const magnitude = this.neftune.alpha / Math.sqrt(length * width);
    return add(out, uniform(out.shape, this.neftune.rng, -magnitude, magnitude));
  }
}
