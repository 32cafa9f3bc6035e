/**
 * nn.Linear in HF layout: weight [out, in] (f32 when trained; bf16/f16 when frozen; or a frozen quantized matrix,
 * NF4/FP4/int8 as bitsandbytes' Linear4bit/Linear8bitLt store it), optional bias [out].
 */
import { keep, linear, QuantizedMatrix, quantizedLinear, Tensor } from '../engine/index.js';
import { Module } from './module.js';

export class Linear extends Module {
  private quantizedWeight: QuantizedMatrix | null = null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    weight?: Tensor | QuantizedMatrix,
    bias?: Tensor | null,
  ) {
    super();
    if (weight instanceof QuantizedMatrix) {
      if (weight.rows !== outFeatures || weight.cols !== inFeatures)
        throw new Error(`weight must be [${outFeatures}, ${inFeatures}], got [${weight.rows}, ${weight.cols}]`);
      this.quantizedWeight = weight;
    } else this.registerParameter('weight', weight ?? keep(Tensor.zeros([outFeatures, inFeatures])));
    if (bias) this.registerParameter('bias', bias);
  }

  /** The quantized weight, when the layer holds one (it is then not a parameter: it never trains or saves). */
  get quantized(): QuantizedMatrix | null {
    return this.quantizedWeight;
  }

  get weight(): Tensor {
    if (this.quantizedWeight)
      throw new Error(
        `this layer's weight is quantized (${this.quantizedWeight.type}); it has no full-precision tensor (dequantize() gives one)`,
      );
    return this.parameter('weight') as Tensor;
  }

  get bias(): Tensor | undefined {
    return this.parameter('bias');
  }

  /** Swaps the weight tensor (merging an adapter, changing its dtype). */
  replaceWeight(w: Tensor): void {
    if (w.shape[0] !== this.outFeatures || w.shape[1] !== this.inFeatures)
      throw new Error(`weight must be [${this.outFeatures}, ${this.inFeatures}], got [${w.shape.join(', ')}]`);
    this.quantizedWeight?.dispose();
    this.quantizedWeight = null;
    this.registerParameter('weight', w);
  }

  /** x [..., in] -> [..., out] */
  forward(x: Tensor): Tensor {
    if (this.quantizedWeight) return quantizedLinear(x, this.quantizedWeight, this.bias);
    return linear(x, this.weight, this.bias);
  }

  protected override releaseBuffers(): void {
    this.quantizedWeight?.dispose();
  }
}
