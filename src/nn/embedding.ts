/**
 * nn.Embedding: weight [V, C]; ids i32 [...] -> [..., C]. The weight is a tensor, or a frozen matrix in a GGUF file's
 * ggml blocks (looked-up rows are dequantized; it is then not a parameter: it never trains or saves).
 */
import { add, embedding, QuantizedMatrix, quantizedEmbedding, type Tensor, uniform } from '../engine/index.js';
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
  private quantizedWeight: QuantizedMatrix | null = null;

  /** paddingIdx: the row that never receives a gradient (HF builds nn.Embedding with padding_idx = pad_token_id). */
  constructor(
    weight: Tensor | QuantizedMatrix,
    readonly paddingIdx: number | null = null,
  ) {
    super();
    if (weight instanceof QuantizedMatrix) this.quantizedWeight = weight;
    else this.registerParameter('weight', weight);
  }

  /** The quantized table, when the embedding holds one. */
  get quantized(): QuantizedMatrix | null {
    return this.quantizedWeight;
  }

  get weight(): Tensor {
    if (this.quantizedWeight)
      throw new Error(
        `the embedding is stored quantized (${this.quantizedWeight.type}, from a GGUF file); it has no full-precision tensor: load the model with dequantizeBase to train or resize it`,
      );
    return this.parameter('weight') as Tensor;
  }

  replaceWeight(w: Tensor): void {
    this.quantizedWeight?.dispose();
    this.quantizedWeight = null;
    this.registerParameter('weight', w);
  }

  forward(ids: Tensor): Tensor {
    const out = this.quantizedWeight
      ? quantizedEmbedding(this.quantizedWeight, ids)
      : embedding(this.weight, ids, this.paddingIdx === null ? {} : { paddingIdx: this.paddingIdx });
    if (this.neftune === null || !this.training || out.ndim < 3) return out;
    const [length, width] = out.shape.slice(-2) as [number, number];
    const magnitude = this.neftune.alpha / Math.sqrt(length * width);
    return add(out, uniform(out.shape, this.neftune.rng, -magnitude, magnitude));
  }

  protected override releaseBuffers(): void {
    this.quantizedWeight?.dispose();
  }
}
